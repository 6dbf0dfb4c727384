"""Relay an engine's response body to the client chunk by chunk, bytes unchanged.

Each chunk is written as soon as it arrives; events are looked at only as far as metrics
need (first-chunk time, gaps, the usage block, the closing `[DONE]`). When the engine fails
after the status line went out, an event stream ends with an OpenAI error event and
`data: [DONE]`, so an SDK raises a clean error instead of hanging; any other body cannot be
repaired in-band, so the error propagates and the connection is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Histogram

from gateway.errors import (
    RequestCancelledError,
    UpstreamDisconnectedError,
    UpstreamError,
    UpstreamTimeoutError,
)
from gateway.openai.sse import DONE_EVENT, ends_with_done, is_event_stream
from gateway.openai.usage import USAGE_MARKER, Usage, usage_from_body, usage_from_sse
from gateway.proxy.headers import client_response_headers
from gateway.proxy.interfaces import ResponseWriter, UpstreamResponse
from gateway.safety.interfaces import OutputInspector

_MAX_BODY_FOR_USAGE = 1 << 20
_CANCELLED = RequestCancelledError("The gateway cancelled the request while shutting down.")


@dataclass(slots=True)
class RelayOutcome:
    status: int
    first_chunk_at: float | None = None
    """Event-loop time of the first body chunk."""
    usage: Usage | None = None
    failure: UpstreamError | None = None
    """Set when the engine failed mid-body and the client got an in-band error."""


class Relay:
    """Copies one upstream response to one client; use once."""

    def __init__(
        self,
        upstream: UpstreamResponse,
        writer: ResponseWriter,
        *,
        request_id: str,
        idle_s: float,
        deadline: float,
        chunk_gaps: Histogram | None = None,
        inspector: OutputInspector | None = None,
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """`extra_headers` (lower-case names) are added to the engine's response headers."""
        self._upstream = upstream
        self._writer = writer
        self._request_id = request_id
        self._idle_s = idle_s
        self._deadline = deadline
        self._chunk_gaps = chunk_gaps
        self._inspector = inspector
        self._extra_headers = extra_headers
        self._sse = is_event_stream(upstream.content_type)
        self._tail = b""
        self._usage_chunk: bytes | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self.outcome = RelayOutcome(upstream.status)

    async def run(self) -> RelayOutcome:
        headers = client_response_headers(self._upstream.raw_headers, request_id=self._request_id)
        headers.extend(self._extra_headers)
        await self._writer.start(self._upstream.status, headers)
        try:
            await self._pump()
        except (UpstreamError, TimeoutError) as exc:
            failure = self._failure(exc)
            if not self._sse:
                raise failure from exc
            await self._end_with_error(failure)
            return self.outcome
        except asyncio.CancelledError:
            if self._sse:
                # A client still there (shutdown passed its drain deadline) gets a clean end;
                # one that left is not written to anyway.
                await self._writer.end(
                    _event_boundary(self._tail) + _CANCELLED.to_sse_event() + DONE_EVENT
                )
            raise
        if self._sse and not ends_with_done(self._tail):
            await self._end_with_error(
                UpstreamDisconnectedError("The engine ended the stream without `data: [DONE]`.")
            )
            return self.outcome
        await self._writer.end()
        self.outcome.usage = self._usage()
        return self.outcome

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        idle_s, deadline = self._idle_s, self._deadline
        gaps = self._chunk_gaps if self._sse else None
        inspector = self._inspector
        last = 0.0
        async with asyncio.timeout_at(min(loop.time() + idle_s, deadline)) as timer:
            async for chunk in self._upstream.chunks():
                now = loop.time()
                if not timer.expired():
                    timer.reschedule(min(now + idle_s, deadline))
                if self.outcome.first_chunk_at is None:
                    self.outcome.first_chunk_at = now
                elif gaps is not None:
                    gaps.observe(now - last)
                last = now
                if inspector is not None:
                    inspector.observe(chunk)
                self._note(chunk)
                await self._writer.write(chunk)

    def _note(self, chunk: bytes) -> None:
        if self._sse:
            # The closing `[DONE]` may straddle two chunks; 32 bytes of tail is enough to see it.
            self._tail = self._tail[-32:] + chunk if len(chunk) < 32 else chunk
            if USAGE_MARKER in chunk:
                self._usage_chunk = chunk
        elif self._body_size < _MAX_BODY_FOR_USAGE:
            self._body.append(chunk)
            self._body_size += len(chunk)

    def _usage(self) -> Usage | None:
        if self._usage_chunk is not None:
            return usage_from_sse(self._usage_chunk)
        if self._body and self._body_size < _MAX_BODY_FOR_USAGE:
            return usage_from_body(b"".join(self._body))
        return None

    def _failure(self, exc: UpstreamError | TimeoutError) -> UpstreamError:
        if isinstance(exc, UpstreamError):
            return exc
        return UpstreamTimeoutError("The engine stopped sending before the response ended.")

    async def _end_with_error(self, failure: UpstreamError) -> None:
        self.outcome.failure = failure
        await self._writer.end(_event_boundary(self._tail) + failure.to_sse_event() + DONE_EVENT)


def _event_boundary(tail: bytes) -> bytes:
    """What ends an event the engine left half-written, so the next event parses alone."""
    if not tail or tail.endswith(b"\n\n"):
        return b""
    return b"\n" if tail.endswith(b"\n") else b"\n\n"

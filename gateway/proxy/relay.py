"""Relay an engine's response body to the client chunk by chunk, bytes unchanged.

Each chunk is written as soon as it arrives; events are looked at only as far as metrics
need (first-chunk time, gaps, the usage block, the closing `[DONE]`). When the engine fails
after the status line went out, an event stream ends with an OpenAI error event and
`data: [DONE]`, so an SDK raises a clean error instead of hanging; any other body cannot be
repaired in-band, so the error propagates and the connection is dropped.

With an output inspector (safety.output) on a successful response: a stream is forwarded in
whole events only and checked as it goes; when a guard blocks, the violating chunk is not
forwarded, the stream ends with the guard's closing chunk (`finish_reason:
"content_filter"`), an error event and `data: [DONE]`, and the engine's connection is
closed so it stops generating. A non-streamed answer is read whole before anything goes
out, so a blocked one is replaced by the error response.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Histogram

from gateway.errors import (
    RequestCancelledError,
    UpstreamDisconnectedError,
    UpstreamError,
    UpstreamTimeoutError,
)
from gateway.openai.answer import Answer, answer_from_body, answer_from_sse
from gateway.openai.errors import write_error
from gateway.openai.sse import DONE_EVENT, ends_with_done, is_event_stream
from gateway.openai.usage import USAGE_MARKER, Usage, usage_from_body, usage_from_sse
from gateway.proxy.headers import client_response_headers
from gateway.proxy.interfaces import ResponseWriter, UpstreamResponse
from gateway.safety.interfaces import OutputCut, OutputInspector

_MAX_BODY_FOR_USAGE = 1 << 20
_MAX_HELD_BODY = 8 << 20  # a larger non-streamed answer is relayed uninspected
_IDLE_GRACE = 1.25
_CANCELLED = RequestCancelledError("The gateway cancelled the request while shutting down.")


@dataclass(slots=True)
class RelayOutcome:
    status: int
    first_chunk_at: float | None = None
    """Event-loop time of the first body chunk."""
    usage: Usage | None = None
    failure: UpstreamError | None = None
    """Set when the engine failed mid-body and the client got an in-band error."""
    answer: Answer | None = None
    """Finish reasons, served model and output sample of a response relayed to its end."""
    cut: OutputCut | None = None
    """Set when an output guard ended the response (then `status` is what the client got)."""


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
        output_sample_bytes: int = 0,
    ) -> None:
        """`extra_headers` (lower-case names) are added to the engine's response headers;
        `output_sample_bytes` of an event stream (and as many characters of a body's text)
        are kept for the output monitor."""
        self._upstream = upstream
        self._writer = writer
        self._request_id = request_id
        self._idle_s = idle_s
        self._deadline = deadline
        self._chunk_gaps = chunk_gaps
        ok = 200 <= upstream.status < 300
        self._inspector = inspector if ok else None  # an engine's error page is not output
        self._extra_headers = extra_headers
        self._sse = is_event_stream(upstream.content_type)
        self._hold = self._inspector is not None and not self._sse
        self._held: list[bytes] = []
        self._held_size = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._tail = b""
        self._usage_chunk: bytes | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._last: deque[bytes] = deque(maxlen=8)  # where the finish reasons are
        self._sample_bytes = output_sample_bytes
        self._sample: list[bytes] = []
        self._sample_room = output_sample_bytes
        self._chunks = 0
        self.outcome = RelayOutcome(upstream.status)

    async def run(self) -> RelayOutcome:
        headers = client_response_headers(self._upstream.raw_headers, request_id=self._request_id)
        headers.extend(self._extra_headers)
        self._headers = headers
        if not self._hold:
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
        if self._hold:
            await self._release_held()
            return self.outcome
        if self.outcome.cut is not None:
            await self._end_cut(self.outcome.cut)
            return self.outcome
        if self._inspector is not None and (rest := self._inspector.flush()):
            self._note(rest)
            await self._writer.write(rest)
        if self._sse and not ends_with_done(self._tail):
            await self._end_with_error(
                UpstreamDisconnectedError("The engine ended the stream without `data: [DONE]`.")
            )
            return self.outcome
        await self._writer.end()
        self.outcome.usage = self._usage()
        self.outcome.answer = self._answer()
        return self.outcome

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        idle_s, deadline = self._idle_s, self._deadline
        gaps = self._chunk_gaps if self._sse else None
        inspector = self._inspector
        last = 0.0
        # The idle timer allows `idle_s` to `idle_s × 1.25` of silence: it is pushed back
        # only every quarter of `idle_s`, not on every chunk (rescheduling a timer costs
        # ~3 µs, a few hundred per long stream). The deadline stays exact.
        grace = idle_s * _IDLE_GRACE
        refresh_at = loop.time() + idle_s * (_IDLE_GRACE - 1)
        async with asyncio.timeout_at(min(loop.time() + grace, deadline)) as timer:
            async for chunk in self._upstream.chunks():
                now = loop.time()
                if now >= refresh_at and not timer.expired():
                    timer.reschedule(min(now + grace, deadline))
                    refresh_at = now + idle_s * (_IDLE_GRACE - 1)
                if self.outcome.first_chunk_at is None:
                    self.outcome.first_chunk_at = now
                elif gaps is not None:
                    gaps.observe(now - last)
                last = now
                if self._hold:
                    if not self._keep(chunk):
                        await self._unhold()  # too large to hold: relayed as is from here
                    continue
                if inspector is not None:
                    seen = inspector.observe(chunk)
                    if isinstance(seen, OutputCut):
                        self.outcome.cut = seen
                        return
                    chunk = seen  # whole events only
                    if not chunk:
                        continue
                self._note(chunk)
                await self._writer.write(chunk)

    def _keep(self, chunk: bytes) -> bool:
        """Hold a chunk of a non-streamed answer; False once the answer is too large."""
        self._held.append(chunk)
        self._held_size += len(chunk)
        return self._held_size <= _MAX_HELD_BODY

    async def _unhold(self) -> None:
        self._hold, self._inspector = False, None
        body, self._held = b"".join(self._held), []
        await self._writer.start(self._upstream.status, self._headers)
        self._note(body)
        await self._writer.write(body)

    async def _release_held(self) -> None:
        """Send the held answer, or the error that replaces it."""
        body, self._held = b"".join(self._held), []
        assert self._inspector is not None
        cut = self._inspector.inspect_body(body)
        if cut is not None:
            self.outcome.cut = cut
            self.outcome.status = cut.error.status_code
            await write_error(self._writer, cut.error, self._request_id)
            return
        await self._writer.start(self._upstream.status, self._headers)
        self._note(body)
        await self._writer.end(body)
        self.outcome.usage = self._usage()
        self.outcome.answer = self._answer()

    async def _end_cut(self, cut: OutputCut) -> None:
        """End a stream an output guard stopped, and close the engine's connection so it
        stops generating."""
        await self._upstream.aclose()
        await self._writer.end(
            _event_boundary(self._tail) + cut.closing + cut.error.to_sse_event() + DONE_EVENT
        )

    def _note(self, chunk: bytes) -> None:
        if self._sse:
            # The closing `[DONE]` may straddle two chunks; 32 bytes of tail is enough to see it.
            self._tail = self._tail[-32:] + chunk if len(chunk) < 32 else chunk
            if USAGE_MARKER in chunk:
                self._usage_chunk = chunk
            self._last.append(chunk)
            if self._sample_bytes:  # the output monitor's sample and length estimate
                self._chunks += 1
                if self._sample_room > 0:
                    self._sample.append(chunk)
                    self._sample_room -= len(chunk)
        elif self._body_size < _MAX_BODY_FOR_USAGE:
            self._body.append(chunk)
            self._body_size += len(chunk)

    def _usage(self) -> Usage | None:
        if self._usage_chunk is not None:
            return usage_from_sse(self._usage_chunk)
        if self._body and self._body_size < _MAX_BODY_FOR_USAGE:
            return usage_from_body(b"".join(self._body))
        return None

    def _answer(self) -> Answer:
        if self._sse:
            head = b"".join(self._sample)
            ending = b"".join(self._last)
            return answer_from_sse(ending, chunks=self._chunks, head=head)
        if self._body and self._body_size < _MAX_BODY_FOR_USAGE:
            return answer_from_body(b"".join(self._body), self._sample_bytes)
        return Answer()

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

"""The relay alone, over a fake upstream response and an in-memory writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from gateway.errors import UpstreamDisconnectedError
from gateway.openai.sse import DONE_EVENT
from gateway.openai.usage import Usage
from gateway.proxy.httpx_upstream import HttpxResponse
from gateway.proxy.interfaces import ResponseWriter
from gateway.proxy.relay import Relay
from gateway.types import RawHeaders
from tests.gateway.fake_engine import sse_chunks

SSE = {"content-type": "text/event-stream"}


class MemoryWriter(ResponseWriter):
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: RawHeaders = []
        self.chunks: list[bytes] = []
        self.ended = False
        self.wrote = asyncio.Event()

    @property
    def started(self) -> bool:
        return self.status is not None

    async def start(self, status: int, headers: RawHeaders) -> None:
        self.status, self.headers = status, headers

    async def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.wrote.set()

    async def end(self, chunk: bytes = b"") -> None:
        self.chunks.append(chunk)
        self.ended = True


async def _body(chunks: list[bytes], *, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for index, chunk in enumerate(chunks):
        if index == fail_after:
            raise httpx.RemoteProtocolError("peer closed connection")
        yield chunk


async def _stall(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    await asyncio.Event().wait()


def _relay(response: httpx.Response, writer: MemoryWriter, idle_s: float = 5.0) -> Relay:
    deadline = asyncio.get_running_loop().time() + 30
    upstream = HttpxResponse(response)
    return Relay(upstream, writer, request_id="rid", idle_s=idle_s, deadline=deadline)


async def test_stream_bytes_are_relayed_unchanged() -> None:
    chunks = sse_chunks(4, usage=True)
    writer = MemoryWriter()
    outcome = await _relay(httpx.Response(200, headers=SSE, content=_body(chunks)), writer).run()
    assert writer.chunks == [*chunks, b""]
    assert outcome.failure is None
    assert outcome.usage == Usage(prompt_tokens=7, completion_tokens=4)
    assert outcome.first_chunk_at is not None


@pytest.mark.parametrize(
    ("tail", "boundary"),
    [
        pytest.param(b"data: {}\n\n", b"", id="between-events"),
        pytest.param(b'data: {"a"', b"\n\n", id="mid-line"),
        pytest.param(b"data: {}\n", b"\n", id="mid-event"),
    ],
)
async def test_engine_dying_mid_stream_ends_with_error_and_done(
    tail: bytes, boundary: bytes
) -> None:
    chunks = [*sse_chunks(2)[:2], tail, b"never sent"]
    writer = MemoryWriter()
    response = httpx.Response(200, headers=SSE, content=_body(chunks, fail_after=3))
    outcome = await _relay(response, writer).run()
    assert isinstance(outcome.failure, UpstreamDisconnectedError)
    assert writer.ended
    assert writer.chunks[:3] == chunks[:3]
    closing = writer.chunks[-1]
    assert closing.startswith(boundary + b"data: {")
    assert closing.endswith(DONE_EVENT)
    error = orjson.loads(closing[len(boundary) + 6 : closing.index(b"\n\n", len(boundary))])
    assert error["error"]["code"] == "upstream_disconnected"


async def test_stream_without_done_gets_error_and_done() -> None:
    writer = MemoryWriter()
    response = httpx.Response(200, headers=SSE, content=_body(sse_chunks(2)[:-1]))
    outcome = await _relay(response, writer).run()
    assert outcome.failure is not None
    assert writer.chunks[-1].endswith(DONE_EVENT)


async def test_idle_engine_times_out_in_band() -> None:
    writer = MemoryWriter()
    response = httpx.Response(200, headers=SSE, content=_stall(sse_chunks(1)[:2]))
    outcome = await _relay(response, writer, idle_s=0.05).run()
    assert outcome.failure is not None
    assert outcome.failure.status_code == 504
    assert writer.chunks[-1].endswith(DONE_EVENT)


async def test_json_body_failure_cannot_be_repaired_in_band() -> None:
    writer = MemoryWriter()
    response = httpx.Response(
        200, headers={"content-type": "application/json"}, content=_body([b"{", b"}"], fail_after=1)
    )
    with pytest.raises(UpstreamDisconnectedError):
        await _relay(response, writer).run()
    assert not writer.ended


async def test_json_usage_is_read() -> None:
    body = orjson.dumps({"usage": {"prompt_tokens": 3, "completion_tokens": 1}})
    writer = MemoryWriter()
    response = httpx.Response(
        200, headers={"content-type": "application/json"}, content=_body([body[:5], body[5:]])
    )
    outcome = await _relay(response, writer).run()
    assert outcome.usage == Usage(3, 1)
    assert b"".join(writer.chunks) == body


async def test_cancelled_stream_ends_cleanly_for_a_client_still_there() -> None:
    writer = MemoryWriter()
    response = httpx.Response(200, headers=SSE, content=_stall(sse_chunks(1)[:2]))
    task = asyncio.create_task(_relay(response, writer).run())
    while len(writer.chunks) < 2:
        writer.wrote.clear()
        await writer.wrote.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writer.ended
    assert b'"request_cancelled"' in writer.chunks[-1]
    assert writer.chunks[-1].endswith(DONE_EVENT)

"""What the relay hands governance about an answer: finish reasons, served model, a bounded
head of the stream, the chunk count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.proxy.httpx_upstream import HttpxResponse
from gateway.proxy.relay import Relay
from tests.gateway.fake_engine import json_response, sse_chunks
from tests.gateway.proxy.test_relay import SSE, MemoryWriter

FINISH = (
    b'data: {"model":"served","choices":[{"index":0,"delta":{"content":"!"},'
    b'"finish_reason":"length"}]}\n\n'
)


async def _body(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _run(response: httpx.Response, sample_bytes: int) -> Relay:
    deadline = asyncio.get_running_loop().time() + 30
    relay = Relay(
        HttpxResponse(response),
        MemoryWriter(),
        request_id="rid",
        idle_s=5,
        deadline=deadline,
        output_sample_bytes=sample_bytes,
    )
    await relay.run()
    return relay


def _split(chunks: list[bytes], size: int) -> list[bytes]:
    data = b"".join(chunks)
    return [data[i : i + size] for i in range(0, len(data), size)]


STREAM = [*sse_chunks(3)[:-1], FINISH, b"data: [DONE]\n\n"]


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param(STREAM, id="one-chunk-per-event"),
        pytest.param(_split(STREAM, 50), id="events-split-across-chunks"),
        pytest.param([b"".join(STREAM)], id="one-chunk"),
    ],
)
async def test_stream_answer(chunks: list[bytes]) -> None:
    relay = await _run(httpx.Response(200, headers=SSE, content=_body(chunks)), 4096)
    answer = relay.outcome.answer
    assert answer is not None
    assert answer.finish_reasons == ("length",)
    assert answer.served_model == "served"
    assert answer.chunks == len(chunks)
    assert answer.output_text(100) == "t0t1t2!"


async def test_the_stream_head_is_bounded() -> None:
    chunks = sse_chunks(200)
    relay = await _run(httpx.Response(200, headers=SSE, content=_body(chunks)), 1024)
    answer = relay.outcome.answer
    assert answer is not None
    assert 1024 <= len(answer.head) < 1024 + max(len(chunk) for chunk in chunks)
    assert answer.output_text(10_000).startswith("t0t1t2")


async def test_without_a_monitor_no_head_is_kept() -> None:
    relay = await _run(httpx.Response(200, headers=SSE, content=_body(STREAM)), 0)
    answer = relay.outcome.answer
    assert answer is not None
    assert (answer.head, answer.chunks, answer.finish_reasons) == (b"", 0, ("length",))


async def test_body_answer() -> None:
    body = {
        "model": "served",
        "choices": [{"message": {"content": "Paris."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }
    relay = await _run(json_response(200, body), 4096)
    answer = relay.outcome.answer
    assert answer is not None
    assert (answer.finish_reasons, answer.served_model) == (("stop",), "served")
    assert answer.output_text(100) == "Paris."

"""Output guards: the response inspector alone, then inside the relay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import httpx
import orjson
import pytest

from gateway.openai.sse import DONE_EVENT
from gateway.proxy.httpx_upstream import HttpxResponse
from gateway.proxy.interfaces import ResponseWriter
from gateway.proxy.relay import Relay
from gateway.safety.base import GuardDeps
from gateway.safety.inspector import ResponseInspector
from gateway.safety.interfaces import OutputCut
from gateway.safety.output_patterns import OutputPatternsGuard
from gateway.types import RawHeaders

SSE = {"content-type": "text/event-stream"}
KEY = "sk-proj-" + "Zq9" * 10


def _scanner(**parameters: object) -> OutputPatternsGuard:
    parameters.setdefault("kinds", ["secret"])
    return OutputPatternsGuard.build("out", parameters, GuardDeps())


def _event(*texts: str, completion: bool = False) -> bytes:
    if completion:
        choices = [{"index": i, "text": t, "finish_reason": None} for i, t in enumerate(texts)]
        kind = "text_completion"
    else:
        choices = [
            {"index": i, "delta": {"content": t}, "finish_reason": None}
            for i, t in enumerate(texts)
        ]
        kind = "chat.completion.chunk"
    event = {"id": "cmpl-9", "object": kind, "created": 7, "model": "m", "choices": choices}
    return b"data: " + orjson.dumps(event) + b"\n\n"


def _inspector(*parameters: dict[str, object], chat: bool = True) -> ResponseInspector:
    scanners = [_scanner(**p) for p in parameters] or [_scanner()]
    return ResponseInspector(scanners, chat=chat)


def _stream(words: Sequence[str]) -> list[bytes]:
    return [_event(word) for word in words] + [DONE_EVENT]


def test_a_clean_stream_passes_through_unchanged() -> None:
    inspector = _inspector()
    chunks = _stream(["Hello", " there", "."])
    assert [inspector.observe(c) for c in chunks] == chunks
    assert inspector.flush() == b""
    assert inspector.verdicts == []


def test_a_secret_split_across_chunks_cuts_the_stream_at_the_chunk_completing_it() -> None:
    inspector = _inspector()
    pieces = ["Your key is ", KEY[:10], KEY[10:22], KEY[22:], " enjoy"]
    seen = [inspector.observe(c) for c in _stream(pieces)]
    cut_at = next(i for i, s in enumerate(seen) if isinstance(s, OutputCut))
    assert cut_at == 3  # the chunk in which the key reaches 20 characters after `sk-proj-`
    assert all(isinstance(s, bytes) for s in seen[:cut_at])
    cut = seen[cut_at]
    assert isinstance(cut, OutputCut)
    assert (cut.verdict.guard, cut.verdict.action, cut.verdict.reason) == ("out", "block", "secret")
    assert cut.error.code == "content_filter"
    closing = orjson.loads(cut.closing.removeprefix(b"data: "))
    assert closing["id"] == "cmpl-9"
    assert closing["created"] == 7
    assert closing["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "content_filter"}
    ]


def test_a_completion_stream_closes_with_a_text_choice() -> None:
    inspector = _inspector(chat=False)
    cut = inspector.observe(_event(f"key {KEY} here", completion=True))
    assert isinstance(cut, OutputCut)
    closing = orjson.loads(cut.closing.removeprefix(b"data: "))
    assert closing["object"] == "text_completion"
    assert closing["choices"][0]["text"] == ""


def test_every_choice_has_its_own_window() -> None:
    inspector = _inspector()
    # Choice 0 and 1 each get half of the key: neither has it whole.
    assert isinstance(inspector.observe(_event(KEY[:15], KEY[15:])), bytes)
    cut = inspector.observe(_event(KEY[15:], "x"))
    assert isinstance(cut, OutputCut)
    closing = orjson.loads(cut.closing.removeprefix(b"data: "))
    assert [c["index"] for c in closing["choices"]] == [0, 1]


@pytest.mark.parametrize(
    ("split_at", "boundary"),
    [
        pytest.param(10, b"\n\n", id="mid-event"),
        pytest.param(-1, b"\n\n", id="before-blank-line"),
    ],
)
def test_a_split_event_is_held_until_it_is_whole(split_at: int, boundary: bytes) -> None:
    inspector = _inspector()
    event = _event("hello")
    assert inspector.observe(event[:split_at]) == b""
    assert inspector.observe(event[split_at:]) == event


def test_crlf_framed_events_are_understood() -> None:
    inspector = _inspector()
    event = _event(f"key {KEY}").replace(b"\n\n", b"\r\n\r\n")
    assert isinstance(inspector.observe(event), OutputCut)


def test_flagged_matches_are_recorded_once_and_the_stream_goes_on() -> None:
    inspector = _inspector(
        {"action": "flag", "kinds": [], "patterns": [{"reason": "marker", "pattern": "forbidden"}]}
    )
    chunks = _stream(["a forbidden word", " and another forbidden one", "."])
    assert [inspector.observe(c) for c in chunks] == chunks
    assert [(v.action, v.reason, v.stage) for v in inspector.verdicts] == [
        ("flag", "marker", "output")
    ]


def test_a_match_in_text_already_scanned_is_not_reported_again() -> None:
    scanner = _scanner(kinds=[], patterns=[{"reason": "marker", "pattern": "abc"}])
    assert scanner.scan("xxabcxx", 0) is not None
    assert scanner.scan("xxabcxx", 5) is None
    assert scanner.scan("xxabcxx", 4) is not None  # the match ends after index 4


@pytest.mark.parametrize(
    ("body", "cut"),
    [
        pytest.param(
            {"choices": [{"index": 0, "message": {"content": f"use {KEY}"}}]}, True, id="leaks"
        ),
        pytest.param(
            {"choices": [{"index": 0, "message": {"content": "all fine"}}]}, False, id="clean"
        ),
        pytest.param(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "content": None,
                            "tool_calls": [{"function": {"arguments": f'{{"k": "{KEY}"}}'}}],
                        },
                    }
                ]
            },
            True,
            id="tool-call-arguments",
        ),
    ],
)
def test_a_whole_answer_is_inspected(body: dict[str, object], cut: bool) -> None:
    assert (_inspector().inspect_body(orjson.dumps(body)) is not None) == cut


class _Writer(ResponseWriter):
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: RawHeaders = []
        self.chunks: list[bytes] = []

    @property
    def started(self) -> bool:
        return self.status is not None

    async def start(self, status: int, headers: RawHeaders) -> None:
        self.status, self.headers = status, headers

    async def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    async def end(self, chunk: bytes = b"") -> None:
        self.chunks.append(chunk)


class _Closing(httpx.AsyncByteStream):
    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = chunks
        self.closed = False
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            self.sent += 1
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


async def _relayed(
    status: int, headers: dict[str, str], stream: _Closing, inspector: ResponseInspector | None
) -> tuple[Relay, _Writer]:
    writer = _Writer()
    upstream = HttpxResponse(httpx.Response(status, headers=headers, stream=stream))
    deadline = asyncio.get_running_loop().time() + 30
    relay = Relay(
        upstream, writer, request_id="rid", idle_s=5, deadline=deadline, inspector=inspector
    )
    await relay.run()
    return relay, writer


async def test_a_violation_ends_the_stream_cleanly_mid_stream_and_closes_the_engine() -> None:
    chunks = _stream(["Sure, here it is: ", KEY, " and more", " text"])
    stream = _Closing(chunks)
    relay, writer = await _relayed(200, SSE, stream, _inspector())
    assert relay.outcome.cut is not None
    assert relay.outcome.failure is None
    assert writer.status == 200
    assert writer.chunks[0] == chunks[0]  # what came before went out as it came
    assert KEY.encode() not in b"".join(writer.chunks)
    events = [e for e in b"".join(writer.chunks).split(b"\n\n") if e]
    final = orjson.loads(events[-3].removeprefix(b"data: "))
    assert final["choices"][0]["finish_reason"] == "content_filter"
    assert orjson.loads(events[-2].removeprefix(b"data: "))["error"]["code"] == "content_filter"
    assert events[-1] == b"data: [DONE]"
    assert stream.closed
    assert stream.sent < len(chunks)


async def test_a_blocked_answer_is_replaced_by_an_openai_error() -> None:
    body = orjson.dumps({"choices": [{"index": 0, "message": {"content": f"key: {KEY}"}}]})
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    relay, writer = await _relayed(200, headers, _Closing([body[:20], body[20:]]), _inspector())
    assert relay.outcome.status == 400
    assert writer.status == 400
    error = orjson.loads(b"".join(writer.chunks))["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "content_filter")
    assert KEY.encode() not in b"".join(writer.chunks)


async def test_a_clean_answer_goes_out_whole_and_unchanged() -> None:
    body = orjson.dumps(
        {
            "choices": [{"index": 0, "message": {"content": "hi"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        }
    )
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    relay, writer = await _relayed(200, headers, _Closing([body[:7], body[7:]]), _inspector())
    assert writer.status == 200
    assert b"".join(writer.chunks) == body
    assert relay.outcome.cut is None
    assert relay.outcome.usage is not None


async def test_an_engine_error_page_is_not_inspected() -> None:
    body = orjson.dumps(
        {"error": {"message": f"bad key {KEY}", "type": "x", "param": None, "code": 400}}
    )
    relay, writer = await _relayed(
        400, {"content-type": "application/json"}, _Closing([body]), _inspector()
    )
    assert writer.status == 400
    assert b"".join(writer.chunks) == body
    assert relay.outcome.cut is None

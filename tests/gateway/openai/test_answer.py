"""Finish reasons, served model and output text, read from relayed bytes."""

from __future__ import annotations

import orjson
import pytest

from gateway.openai.answer import Answer, answer_from_body, answer_from_sse


def _event(choices: list[dict[str, object]], model: str = "m") -> bytes:
    document = {"id": "c", "object": "chat.completion.chunk", "model": model, "choices": choices}
    return b"data: " + orjson.dumps(document) + b"\n\n"


ROLE = _event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
PARIS = _event([{"index": 0, "delta": {"content": "Paris"}, "finish_reason": None}])
END = _event([{"index": 0, "delta": {"content": "."}, "finish_reason": "stop"}], model="served")
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
DONE = b"data: [DONE]\n\n"
TEXT = b'data: {"choices":[{"index":0,"text":" once","finish_reason":null}]}\n\n'


@pytest.mark.parametrize(
    ("ending", "reasons"),
    [
        pytest.param(PARIS + END + DONE, ("stop",), id="finish-then-done"),
        pytest.param(END + USAGE + DONE, ("stop",), id="finish-usage-done"),
        pytest.param(PARIS + DONE, (), id="no-reason"),
        pytest.param(END[20:] + DONE, (), id="cut-where-the-kept-chunks-begin"),
        pytest.param(
            b'data: {"choices":[{"finish_reason": "length"}]}\n\n', ("length",), id="spaced"
        ),
        pytest.param(
            _event([{"delta": {"content": '"finish_reason":"stop"'}, "finish_reason": None}]),
            (),
            id="in-generated-text",
        ),
    ],
)
def test_stream_finish_reasons(ending: bytes, reasons: tuple[str, ...]) -> None:
    assert answer_from_sse(ending, chunks=0, head=b"").finish_reasons == reasons


def test_stream_answer() -> None:
    choices = [
        {"index": 1, "delta": {}, "finish_reason": "length"},
        {"index": 0, "delta": {}, "finish_reason": "stop"},
    ]
    ending = END + _event(choices, model="served") + DONE
    answer = answer_from_sse(ending, chunks=5, head=ROLE + PARIS + END)
    assert answer.finish_reasons == ("stop", "length", "stop")
    assert answer.served_model == "served"
    assert answer.chunks == 5
    assert answer.output_text(100) == "Paris."
    assert answer.output_text(3) == "Par"


@pytest.mark.parametrize(
    ("head", "text"),
    [
        pytest.param(ROLE + PARIS + END, "Paris.", id="chat"),
        pytest.param(TEXT + TEXT, " once once", id="completion"),
        pytest.param(ROLE + PARIS + END[:20], "Paris", id="cut-mid-event"),
        pytest.param(b"data: [DONE]\n\n", "", id="done-only"),
        pytest.param(
            _event([{"index": 1, "delta": {"content": "other"}}]) + PARIS, "Paris", id="choice-0"
        ),
        pytest.param(
            _event([{"index": 0, "delta": {"content": 'say "hi"\\\n'}}]) + PARIS,
            'say "hi"\\\nParis',
            id="json-escapes",
        ),
        pytest.param(
            b'data: {"choices":[{"index":0,"delta":{"content":"\\u62b1\\u6b49"}}]}\n\n',
            "抱歉",
            id="unicode-escapes",
        ),
        pytest.param(
            _event([{"index": 0, "delta": {"content": "抱歉，我无法"}}]), "抱歉，我无法", id="utf-8"
        ),
        pytest.param(
            _event([{"index": 0, "delta": {"content": None, "tool_calls": []}}]) + PARIS,
            "Paris",
            id="tool-call-delta",
        ),
    ],
)
def test_stream_output_text(head: bytes, text: str) -> None:
    assert Answer(head=head).output_text(256) == text


@pytest.mark.parametrize(
    ("body", "max_chars", "finish", "model", "text"),
    [
        pytest.param(
            {
                "model": "served",
                "choices": [{"message": {"content": "Paris."}, "finish_reason": "stop"}],
            },
            100,
            ("stop",),
            "served",
            "Paris.",
            id="chat",
        ),
        pytest.param(
            {"model": "m", "choices": [{"text": "once upon", "finish_reason": "length"}]},
            4,
            ("length",),
            "m",
            "once",
            id="completion-cut",
        ),
        pytest.param({"object": "list", "data": []}, 100, (), None, "", id="embedding"),
    ],
)
def test_body_answer(
    body: dict[str, object], max_chars: int, finish: tuple[str, ...], model: str | None, text: str
) -> None:
    answer = answer_from_body(orjson.dumps(body), max_chars)
    assert answer.finish_reasons == finish
    assert answer.served_model == model
    assert answer.output_text(100) == text


def test_a_body_that_is_not_json_says_nothing() -> None:
    assert answer_from_body(b"<html>", 100) == Answer()

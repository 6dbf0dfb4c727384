"""What an engine's answer says about itself, read from the bytes being relayed.

Finish reasons and the served model come from the events that carry a non-null
`finish_reason` in the last chunks of a stream (parsed once, at its end), or from the body
(non-streamed); the head of the output text is kept as raw bytes while relaying and decoded
only when asked (`Answer.output_text`), off the request's path. Nothing is re-encoded and
the relay never waits on any of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import orjson

_FINISH = re.compile(rb'"finish_reason": ?"')
"""A non-null finish reason, as vLLM (no space) and OpenAI-style encoders write it; a quote
inside a JSON string is escaped, so these bytes never occur in generated text."""
_TEXT_FIELD = re.compile(rb'"(?:content|text)": ?"([^"\\]*(?:\\.[^"\\]*)*)"')
"""A delta's `content` or a completion's `text` string (not `logprobs.content`, a list)."""
_OTHER_CHOICE = re.compile(rb'"index": ?[1-9]')


@dataclass(frozen=True, slots=True)
class Answer:
    finish_reasons: tuple[str, ...] = ()
    """Per choice, in the order the engine finished them."""
    served_model: str | None = None
    """The `model` the engine answered as."""
    chunks: int = 0
    """Streams: the body chunks relayed (about one per generated token for vLLM, which
    writes each event on its own); 0 when not counted."""
    head: bytes = b""
    """Streams: the first bytes of the event stream, as relayed (bounded by the relay)."""
    text: str | None = None
    """Non-streamed: the head of the first choice's text, already decoded."""

    def output_text(self, max_chars: int) -> str:
        """The first `max_chars` characters of the first choice's output."""
        if self.text is not None:
            return self.text[:max_chars]
        return _stream_text(self.head, max_chars)


def answer_from_sse(ending: bytes, *, chunks: int, head: bytes) -> Answer:
    """The answer of a stream from its last bytes (`ending`: the last few chunks, where the
    finishing events are), the count of chunks and the head of the stream.

    With one choice its finish reason is always there (after it come only the usage event
    and `[DONE]`); with `n` > 1, a choice that finished long before the last may not be."""
    reasons: list[str] = []
    model: str | None = None
    for event in _finishing_events(ending):
        model = _model(event) or model
        reasons.extend(_finish_reasons(event.get("choices")))
    return Answer(tuple(reasons), model, chunks, head)


def answer_from_body(body: bytes, max_chars: int) -> Answer:
    """The answer of a complete non-streamed JSON body (an empty one if it is not JSON)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Answer()
    return answer_from_document(document, max_chars)


def answer_from_document(document: object, max_chars: int) -> Answer:
    """The answer of a non-streamed body, parsed once (with `max_chars` of output text)."""
    if not isinstance(document, Mapping):
        return Answer()
    choices = document.get("choices")
    return Answer(
        tuple(_finish_reasons(choices)),
        _model(document),
        text=_first_text(choices, max_chars),
    )


def _finishing_events(ending: bytes) -> Iterator[Mapping[str, object]]:
    for line in ending.split(b"\n"):
        if line.startswith(b"data:") and _FINISH.search(line) is not None:
            try:
                event = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                continue  # cut where the kept chunks begin
            if isinstance(event, dict):
                yield event


def _model(document: Mapping[str, object]) -> str | None:
    model = document.get("model")
    return model if isinstance(model, str) else None


def _finish_reasons(choices: object) -> list[str]:
    if not isinstance(choices, list):
        return []
    return [
        reason
        for choice in choices
        if isinstance(choice, dict) and isinstance(reason := choice.get("finish_reason"), str)
    ]


def _first_text(choices: object, max_chars: int) -> str:
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    message = choice.get("message")
    text = message.get("content") if isinstance(message, dict) else choice.get("text")
    return text[:max_chars] if isinstance(text, str) else ""


def _stream_text(head: bytes, max_chars: int) -> str:
    """Choice 0's text deltas (chat `delta.content`, completions `text`) from whole events.

    One regex pass and one decode when only choice 0 streams (n=1, the usual case: ~5x
    cheaper than parsing every event); a JSON parse per event otherwise."""
    if _OTHER_CHOICE.search(head):
        return _parsed_stream_text(head, max_chars)
    # Each match is whole JSON string content (its escapes complete), so the matches
    # joined are one valid JSON string: a single decode for the whole head.
    joined = b"".join(_TEXT_FIELD.findall(head))
    try:
        text = orjson.loads(b'"' + joined + b'"') if b"\\" in joined else joined.decode()
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        return _parsed_stream_text(head, max_chars)
    return text[:max_chars] if isinstance(text, str) else ""


def _parsed_stream_text(head: bytes, max_chars: int) -> str:
    pieces: list[str] = []
    size = 0
    for line in head.split(b"\n"):
        if size >= max_chars:
            break
        if not line.startswith(b"data:") or line.startswith(b"data: [DONE]"):
            continue
        try:
            event = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            continue  # the last event, cut by the head's bound
        piece = _delta_text(event.get("choices") if isinstance(event, dict) else None)
        if piece:
            pieces.append(piece)
            size += len(piece)
    return "".join(pieces)[:max_chars]


def _delta_text(choices: object) -> str | None:
    if not isinstance(choices, Sequence):
        return None
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        return text if isinstance(text, str) else None
    return None

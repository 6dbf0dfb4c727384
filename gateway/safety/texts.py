"""The user-visible text of a request, as segments guards read, and the request rebuilt with
redacted segments.

Chat messages give one segment per string `content` or per text part of a content array;
completion `prompt` and embedding `input` give one per string (token-id prompts have no text).
A completion prompt is user text (role `user`). Image and audio parts are not text and are
left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from gateway.openai.request_view import parse_request
from gateway.routing.request import InferenceRequest
from gateway.safety.normalize import TextFacts
from gateway.types import RequestKind

Path = tuple[str | int, ...]
"""Where a segment lives in the body: keys and list indexes from the top-level object."""

_TEXT_PARTS = frozenset({"text", "input_text"})


@dataclass(frozen=True, slots=True)
class Segment:
    role: str
    """`system`, `developer`, `user`, `assistant`, `tool`; prompts and inputs are `user`."""
    text: str
    path: Path
    facts: TextFacts = field(init=False, compare=False, repr=False)
    """Derived views of `text` shared by the guards of one request, computed lazily."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "facts", TextFacts(self.text))


def request_segments(request: InferenceRequest) -> tuple[Segment, ...]:
    segments: list[Segment] = []
    if request.messages is not None:
        for index, message in enumerate(request.messages):
            if isinstance(message, Mapping):
                _message_segments(message, index, segments)
    if request.kind is not RequestKind.CHAT:
        key = "prompt" if request.kind is RequestKind.COMPLETION else "input"
        prompt = request.fields.get(key)
        if isinstance(prompt, str):
            segments.append(Segment("user", prompt, (key,)))
        elif isinstance(prompt, list):
            for index, item in enumerate(prompt):
                if isinstance(item, str):
                    segments.append(Segment("user", item, (key, index)))
    return tuple(segments)


def has_token_ids(request: InferenceRequest) -> bool:
    """Whether the prompt is given as token ids, which text guards cannot read."""
    prompt = request.prompt
    return isinstance(prompt, list) and bool(prompt) and not isinstance(prompt[0], str)


def _message_segments(message: Mapping[str, object], index: int, out: list[Segment]) -> None:
    role = message.get("role")
    role = role if isinstance(role, str) else "user"
    content = message.get("content")
    if isinstance(content, str):
        out.append(Segment(role, content, ("messages", index, "content")))
    elif isinstance(content, list):
        for part_index, part in enumerate(content):
            if (
                isinstance(part, Mapping)
                and part.get("type") in _TEXT_PARTS
                and isinstance(text := part.get("text"), str)
            ):
                out.append(Segment(role, text, ("messages", index, "content", part_index, "text")))


def rewritten(
    request: InferenceRequest,
    texts: Mapping[Path, str],
    set_fields: Mapping[str, int],
) -> InferenceRequest:
    """The request with the text at each path replaced and top-level fields set: a new body
    (the only time the gateway re-encodes one), parsed again into a consistent view."""
    fields: object = dict(request.fields)
    for path, text in texts.items():
        fields = _replace(fields, path, text)
    assert isinstance(fields, dict)
    fields.update(set_fields)
    body = orjson.dumps(fields)
    return parse_request(
        request.kind,
        body,
        request_id=request.request_id,
        principal=request.principal,
        session_id=request.session_id,
        headers=request.headers,
    )


def _replace(node: object, path: Sequence[str | int], text: str) -> object:
    """A copy of `node` with the value at `path` replaced; only the containers on the path
    are copied."""
    if not path:
        return text
    key, rest = path[0], path[1:]
    if isinstance(node, dict) and isinstance(key, str):
        copy = dict(node)
        copy[key] = _replace(node[key], rest, text)
        return copy
    if isinstance(node, list) and isinstance(key, int):
        items = list(node)
        items[key] = _replace(node[key], rest, text)
        return items
    raise ValueError(f"no text at {path!r}")  # segments come from this body: a bug

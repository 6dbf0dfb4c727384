"""Parse a request body once into an `InferenceRequest`, checking only what the gateway uses.

The engine validates the rest; the gateway rejects early only what would make it route or
count wrongly (a missing model, a non-boolean `stream`, …), with the offending field named in
`param` as OpenAI does.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from gateway.errors import InvalidRequestError
from gateway.routing.request import InferenceRequest
from gateway.types import ANONYMOUS, Principal, RawHeaders, RequestKind

JsonObject = Mapping[str, object]


def parse_request(
    kind: RequestKind,
    body: bytes,
    *,
    request_id: str,
    principal: Principal = ANONYMOUS,
    session_id: str | None = None,
    headers: RawHeaders | None = None,
) -> InferenceRequest:
    """Raise `InvalidRequestError` (400) on bad JSON or wrong types of the fields read."""
    fields = _load_object(body)
    stream = _optional_bool(fields, "stream") or False
    stream_options = _optional_object(fields, "stream_options")
    include_usage = bool(stream_options and _optional_bool(stream_options, "include_usage"))
    max_tokens = _optional_int(fields, "max_tokens", minimum=0)
    max_completion_tokens = _optional_int(fields, "max_completion_tokens", minimum=0)
    return InferenceRequest(
        request_id=request_id,
        kind=kind,
        model=_required_str(fields, "model"),
        body=body,
        fields=fields,
        stream=stream and kind is not RequestKind.EMBEDDING,
        include_usage=include_usage,
        max_tokens=max_completion_tokens if max_completion_tokens is not None else max_tokens,
        n=_optional_int(fields, "n", minimum=1) or 1,
        priority=_optional_int(fields, "priority") or 0,
        messages=_messages(kind, fields),
        prompt=_prompt(kind, fields),
        principal=principal,
        session_id=session_id,
        headers=headers if headers is not None else [],
    )


def _load_object(body: bytes) -> JsonObject:
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return fields


def _messages(kind: RequestKind, fields: JsonObject) -> list[object] | None:
    messages = fields.get("messages")
    if kind is RequestKind.CHAT or messages is not None:
        if not isinstance(messages, list) or not messages:
            raise InvalidRequestError("`messages` must be a non-empty array.", param="messages")
        if not all(isinstance(message, dict) for message in messages):
            raise InvalidRequestError("Each message must be an object.", param="messages")
        return messages
    return None


def _prompt(kind: RequestKind, fields: JsonObject) -> object:
    if kind is RequestKind.COMPLETION:
        return _text_or_tokens(fields, "prompt", required=True)
    if kind is RequestKind.EMBEDDING:
        # vLLM also embeds chat `messages`; then `input` may be absent.
        return _text_or_tokens(fields, "input", required="messages" not in fields)
    return None


def _text_or_tokens(fields: JsonObject, name: str, *, required: bool) -> object:
    """A string, or an array of strings, of token ids, or of token-id arrays."""
    value = fields.get(name)
    if value is None and not required:
        return None
    if isinstance(value, str) or (isinstance(value, list) and value and _uniform_items(value)):
        return value
    raise InvalidRequestError(
        f"`{name}` must be a string, an array of strings or an array of token ids.", param=name
    )


def _uniform_items(items: list[object]) -> bool:
    first = items[0]
    if isinstance(first, str):
        return all(isinstance(item, str) for item in items)
    if isinstance(first, int) and not isinstance(first, bool):
        return all(isinstance(item, int) and not isinstance(item, bool) for item in items)
    return all(isinstance(item, list) for item in items)


def _required_str(fields: JsonObject, name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"`{name}` is required and must be a string.", param=name)
    return value


def _optional_bool(fields: JsonObject, name: str) -> bool | None:
    value = fields.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidRequestError(f"`{name}` must be a boolean.", param=name)


def _optional_int(fields: JsonObject, name: str, *, minimum: int | None = None) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequestError(f"`{name}` must be an integer.", param=name)
    if minimum is not None and value < minimum:
        raise InvalidRequestError(f"`{name}` must be at least {minimum}.", param=name)
    return value


def _optional_object(fields: JsonObject, name: str) -> JsonObject | None:
    value = fields.get(name)
    if value is None or isinstance(value, dict):
        return value
    raise InvalidRequestError(f"`{name}` must be an object.", param=name)

"""Small builders of parsed requests for the safety tests."""

from __future__ import annotations

import orjson

from gateway.openai.request_view import parse_request
from gateway.routing.request import InferenceRequest
from gateway.types import Principal, RequestKind

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def chat(
    *messages: tuple[str, object],
    tenant: str = "anonymous",
    model: str = MODEL,
    **fields: object,
) -> InferenceRequest:
    """A chat request of (role, content) messages and extra body fields."""
    body = {"model": model, "messages": [{"role": r, "content": c} for r, c in messages], **fields}
    return parse_request(
        RequestKind.CHAT,
        orjson.dumps(body),
        request_id="req-1",
        principal=Principal(tenant, authenticated=tenant != "anonymous"),
    )


def user(text: str, **fields: object) -> InferenceRequest:
    return chat(("user", text), **fields)


def completion(prompt: object, *, tenant: str = "anonymous", **fields: object) -> InferenceRequest:
    body = {"model": MODEL, "prompt": prompt, **fields}
    return parse_request(
        RequestKind.COMPLETION,
        orjson.dumps(body),
        request_id="req-1",
        principal=Principal(tenant, authenticated=tenant != "anonymous"),
    )


def embedding(text: str) -> InferenceRequest:
    body = {"model": MODEL, "input": text}
    return parse_request(RequestKind.EMBEDDING, orjson.dumps(body), request_id="req-1")

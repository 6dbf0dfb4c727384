"""Request facts as the director would gather them, for building records in tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from gateway.governance.record import ModelVersion
from gateway.openai.answer import Answer
from gateway.openai.prompt import Prompt
from gateway.openai.request_view import parse_request
from gateway.openai.usage import Usage
from gateway.routing.request import InferenceRequest
from gateway.safety.interfaces import GuardVerdict
from gateway.types import ClientCall, RequestKind

MODEL = "Qwen/Qwen2.5-7B-Instruct"
CHAT_BODY = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "temperature": 0.2,
    "max_tokens": 16,
    "stop": ["secret stop"],
}


def call(
    body: object = CHAT_BODY, kind: RequestKind = RequestKind.CHAT, received_at: float = 100.0
) -> ClientCall:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return ClientCall(kind, "req-1", [(b"authorization", b"Bearer sk-secret")], raw, received_at)


def request(client_call: ClientCall) -> InferenceRequest:
    return parse_request(client_call.kind, client_call.body, request_id=client_call.request_id)


@dataclass
class Facts:
    call: ClientCall
    status: int = 500
    error_code: str | None = None
    tenant: str = "anonymous"
    model: str = "unknown"
    request: InferenceRequest | None = None
    prompt: Prompt | None = None
    prompt_hash: str | None = None
    engine: str | None = None
    model_version: ModelVersion | None = None
    request_class: str | None = None
    profile: str | None = None
    predicted_cached_tokens: int = 0
    attempts: int = 0
    sent_at: float | None = None
    first_chunk_at: float | None = None
    usage: Usage | None = None
    answer: Answer | None = None
    verdicts: Sequence[GuardVerdict] = field(default_factory=list)


def answered(client_call: ClientCall | None = None, **changes: object) -> Facts:
    """The facts of a chat request the engine answered in full."""
    client_call = client_call or call()
    parsed = request(client_call)
    facts = Facts(
        client_call,
        status=200,
        tenant="a1b2c3d4",
        model=MODEL,
        request=parsed,
        prompt=Prompt("<|im_start|>user\nWhat is the capital of France?", (1, 2, 3)),
        engine="127.0.0.1:8001",
        model_version=ModelVersion.of(MODEL, "/models/qwen", "rev-7"),
        request_class="chat",
        profile="chat",
        predicted_cached_tokens=16,
        attempts=1,
        sent_at=client_call.received_at + 0.001,
        first_chunk_at=client_call.received_at + 0.020,
        usage=Usage(12, 5, 0),
        answer=Answer(("stop",), MODEL, text="Paris."),
    )
    for name, value in changes.items():
        setattr(facts, name, value)
    return facts

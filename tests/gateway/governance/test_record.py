"""Building the audit record from the director's facts, and its JSON document."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from gateway.governance.builder import BuildOptions, build_record, sampling_parameters
from gateway.governance.fingerprint import prompt_hash
from gateway.governance.record import SCHEMA, ModelVersion
from gateway.openai.prompt import Prompt
from gateway.safety.interfaces import GuardVerdict
from gateway.types import RequestKind
from tests.gateway.governance.facts import MODEL, Facts, answered, call, request

TEMPLATE_TEXT = "<|im_start|>user\nWhat is the capital of France?"
NOW, WALL_NOW = 100.5, 1_700_000_000.5


def _document(facts: Facts, options: BuildOptions | None = None) -> dict[str, object]:
    record = build_record(facts, options or BuildOptions(), now=NOW, wall_now=WALL_NOW)
    document = orjson.loads(record.to_json())
    assert isinstance(document, dict)
    return document


def test_an_answered_request_has_every_field() -> None:
    verdict = GuardVerdict("pii", "flag", "email", details=("email=1",))
    document = _document(answered(verdicts=[verdict]))
    assert document == {
        "schema": SCHEMA,
        "request_id": "req-1",
        "time": "2023-11-14T22:13:20.000Z",
        "tenant": "a1b2c3d4",
        "route": "chat",
        "status": 200,
        "error_code": None,
        "model": {
            "requested": MODEL,
            "served": MODEL,
            "version": "/models/qwen@rev-7",
            "root": "/models/qwen",
            "revision": "rev-7",
        },
        "engine": "127.0.0.1:8001",
        "prompt": {
            "sha256": hashlib.sha256(TEMPLATE_TEXT.encode()).hexdigest(),
            "source": "template",
            "tokens": 3,
        },
        "stream": False,
        "sampling": {"temperature": 0.2, "max_tokens": 16},
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "cached_tokens": 0},
        "routing": {
            "class": "chat",
            "profile": "chat",
            "predicted_cached_tokens": 16,
            "attempts": 1,
        },
        "timings_ms": {"queue": 1.0, "ttft": 20.0, "total": 500.0},
        "finish_reasons": ["stop"],
        "guard_verdicts": [
            {
                "guard": "pii",
                "action": "flag",
                "reason": "email",
                "score": None,
                "stage": "input",
                "details": ["email=1"],
            }
        ],
        "trace_id": None,
    }


def test_no_prompt_text_and_no_key_by_default() -> None:
    text = orjson.dumps(_document(answered()))
    assert b"capital of France" not in text
    assert b"sk-secret" not in text
    assert b"secret stop" not in text


@pytest.mark.parametrize(
    ("max_chars", "expected"),
    [
        pytest.param(32768, TEMPLATE_TEXT, id="whole"),
        pytest.param(10, TEMPLATE_TEXT[:10], id="cut"),
    ],
)
def test_prompt_text_when_the_policy_records_it(max_chars: int, expected: str) -> None:
    options = BuildOptions(record_prompt_text=True, prompt_text_max_chars=max_chars)
    prompt = _document(answered(), options)["prompt"]
    assert isinstance(prompt, dict)
    assert prompt["text"] == expected


@pytest.mark.parametrize(
    ("facts", "status", "error_code", "hashed"),
    [
        pytest.param(Facts(call(b"{not json"), status=400), 400, None, False, id="bad-json"),
        pytest.param(
            Facts(call(), status=404, error_code="model_not_found", model="unknown"),
            404,
            "model_not_found",
            False,
            id="unknown-model-unparsed",
        ),
        pytest.param(
            Facts(call(), status=499, request=request(call())),
            499,
            "client_closed",
            True,
            id="client-closed",
        ),
        pytest.param(
            Facts(
                call(),
                status=400,
                error_code="prompt_injection_detected",
                request=request(call()),
                verdicts=[GuardVerdict("injection", "block", "instruction_override", 0.97)],
            ),
            400,
            "prompt_injection_detected",
            True,
            id="blocked-by-a-guard",
        ),
    ],
)
def test_requests_that_were_not_answered(
    facts: Facts, status: int, error_code: str | None, hashed: bool
) -> None:
    document = _document(facts)
    assert document["status"] == status
    assert document["error_code"] == error_code
    prompt = document["prompt"]
    assert isinstance(prompt, dict)
    assert (prompt["sha256"] is not None) is hashed
    assert prompt["source"] == ("raw" if hashed else None)
    assert document["engine"] is None
    assert document["finish_reasons"] == []


def test_a_blocked_request_keeps_its_verdicts() -> None:
    verdict = GuardVerdict("injection", "block", "instruction_override", 0.97)
    facts = Facts(call(), status=400, request=request(call()), verdicts=[verdict])
    [recorded] = _document(facts)["guard_verdicts"]  # type: ignore[misc]
    assert recorded["action"] == "block"
    assert recorded["score"] == 0.97


@pytest.mark.parametrize(
    ("kind", "body", "prompt", "source"),
    [
        pytest.param(RequestKind.CHAT, None, Prompt("rendered"), "template", id="rendered-chat"),
        pytest.param(RequestKind.CHAT, None, Prompt(), "raw", id="chat-not-tokenized"),
        pytest.param(
            RequestKind.COMPLETION,
            {"model": MODEL, "prompt": "Once upon a time"},
            None,
            "raw",
            id="completion-string",
        ),
        pytest.param(
            RequestKind.COMPLETION,
            {"model": MODEL, "prompt": [1, 2, 3]},
            Prompt(None, (1, 2, 3)),
            "raw",
            id="token-ids",
        ),
    ],
)
def test_prompt_hash_is_of_the_canonical_or_raw_prompt(
    kind: RequestKind, body: dict[str, object] | None, prompt: Prompt | None, source: str
) -> None:
    client_call = call(body, kind) if body is not None else call()
    parsed = request(client_call)
    facts = Facts(client_call, status=200, request=parsed, prompt=prompt)
    document = _document(facts)
    assert document["prompt"]["source"] == source  # type: ignore[index]
    assert document["prompt"]["sha256"] == prompt_hash(parsed, prompt)  # type: ignore[index]


def test_equal_messages_hash_equal_whatever_their_key_order() -> None:
    first = call({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    second = call({"messages": [{"content": "hi", "role": "user"}], "model": MODEL})
    assert prompt_hash(request(first), None) == prompt_hash(request(second), None)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, {}, id="none"),
        pytest.param(
            {"temperature": 0, "top_p": 0.9, "seed": 7, "stream": True, "n": 2},
            {"temperature": 0, "top_p": 0.9, "seed": 7, "n": 2},
            id="numbers",
        ),
        pytest.param(
            {"ignore_eos": True, "logprobs": False},
            {"ignore_eos": True, "logprobs": False},
            id="bools",
        ),
        pytest.param(
            {"temperature": "hot", "stop": ["x"], "tools": [{}], "top_k": None},
            {},
            id="strings-lists-and-nulls-left-out",
        ),
    ],
)
def test_sampling_parameters(fields: dict[str, object], expected: dict[str, object]) -> None:
    assert sampling_parameters(fields) == expected


@pytest.mark.parametrize(
    ("root", "revision", "label"),
    [
        pytest.param("/models/qwen", None, "/models/qwen", id="root"),
        pytest.param("/models/qwen", "abc123", "/models/qwen@abc123", id="root-and-revision"),
        pytest.param(None, "abc123", f"{MODEL}@abc123", id="revision-without-root"),
        pytest.param(None, None, MODEL, id="nothing-known"),
    ],
)
def test_model_version_label(root: str | None, revision: str | None, label: str) -> None:
    assert ModelVersion.of(MODEL, root, revision).label == label

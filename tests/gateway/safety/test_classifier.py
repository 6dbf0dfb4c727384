"""The external classifier guard over a mocked OpenAI-compatible guard model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import orjson
import pytest

from gateway.errors import ContentFilterError, GuardUnavailableError
from gateway.proxy.httpx_upstream import HttpxTransport
from gateway.safety.base import GuardDeps
from gateway.safety.classifier import ExternalClassifierGuard
from gateway.safety.interfaces import GuardResult
from gateway.safety.texts import request_segments
from tests.gateway.fake_engine import json_response
from tests.gateway.safety.builders import chat, embedding, user

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def _answer(content: object, status: int = 200) -> Handler:
    async def handle(request: httpx.Request) -> httpx.Response:
        document = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        return json_response(status, document)

    return handle


async def _silent(request: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.fixture
async def transport_for() -> AsyncIterator[Callable[[Handler], HttpxTransport]]:
    made: list[HttpxTransport] = []

    def make(handler: Handler) -> HttpxTransport:
        transport = HttpxTransport(
            connect_timeout=1,
            max_connections=4,
            keepalive_expiry=1,
            transport=httpx.MockTransport(handler),
        )
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.aclose()


def _guard(transport: HttpxTransport | None, **parameters: object) -> ExternalClassifierGuard:
    parameters = {
        "url": "http://guard.local:8000/",
        "model": "llama-guard",
        "timeout": 0.2,
        "fail": "closed",
        **parameters,
    }
    return ExternalClassifierGuard.build("classifier", parameters, GuardDeps(transport))


async def _assess(guard: ExternalClassifierGuard, text: str = "hello") -> GuardResult:
    request = user(text)
    return await guard.assess(request, request_segments(request))


@pytest.mark.parametrize(
    ("content", "action", "categories"),
    [
        pytest.param("unsafe\nS1,S10", "block", ("S1", "S10"), id="unsafe-with-categories"),
        pytest.param("UNSAFE", "block", (), id="unsafe-bare"),
    ],
)
async def test_an_unsafe_verdict_blocks(
    transport_for: Callable[[Handler], HttpxTransport],
    content: str,
    action: str,
    categories: tuple[str, ...],
) -> None:
    result = await _assess(_guard(transport_for(_answer(content))))
    [verdict] = result.verdicts
    assert (verdict.action, verdict.reason, verdict.details) == (
        action,
        "classifier_unsafe",
        categories,
    )
    assert isinstance(result.refusal, ContentFilterError)


async def test_a_safe_verdict_passes(transport_for: Callable[[Handler], HttpxTransport]) -> None:
    result = await _assess(_guard(transport_for(_answer("safe"))))
    assert result.refusal is None
    assert result.verdicts == ()


async def test_flag_action_records_unsafe_without_refusing(
    transport_for: Callable[[Handler], HttpxTransport],
) -> None:
    result = await _assess(_guard(transport_for(_answer("unsafe\nS2")), action="flag"))
    assert result.refusal is None
    assert [(v.action, v.reason) for v in result.verdicts] == [("flag", "classifier_unsafe")]


@pytest.mark.parametrize(
    ("handler", "cause"),
    [
        pytest.param(_silent, "timeout", id="timeout"),
        pytest.param(_refused, "upstream_unreachable", id="unreachable"),
        pytest.param(_answer("safe", status=500), "status_500", id="status-500"),
        pytest.param(_answer(None), "malformed_answer", id="malformed"),
    ],
)
@pytest.mark.parametrize("fail", ["open", "closed"])
async def test_no_verdict_follows_the_fail_setting(
    transport_for: Callable[[Handler], HttpxTransport], handler: Handler, cause: str, fail: str
) -> None:
    result = await _assess(_guard(transport_for(handler), fail=fail))
    [verdict] = result.verdicts
    assert (verdict.reason, verdict.details) == ("classifier_unavailable", (cause,))
    if fail == "open":
        assert verdict.action == "flag"
        assert result.refusal is None
    else:
        assert verdict.action == "block"
        assert isinstance(result.refusal, GuardUnavailableError)
        assert (result.refusal.status_code, result.refusal.code) == (503, "guard_unavailable")


async def test_the_conversation_is_sent_with_alternating_turns(
    transport_for: Callable[[Handler], HttpxTransport],
) -> None:
    sent: list[dict[str, object]] = []

    async def capture(request: httpx.Request) -> httpx.Response:
        sent.append(orjson.loads(request.content))
        return await _answer("safe")(request)

    request = chat(
        ("system", "be nice"), ("user", "a"), ("user", "b"), ("assistant", "c"), ("user", "d")
    )
    await _guard(transport_for(capture)).assess(request, request_segments(request))
    [body] = sent
    assert body["model"] == "llama-guard"
    assert body["temperature"] == 0
    assert body["messages"] == [
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": "d"},
    ]


async def test_embeddings_are_not_sent(transport_for: Callable[[Handler], HttpxTransport]) -> None:
    guard = _guard(transport_for(_silent))
    request = embedding("anything")
    assert (await guard.assess(request, request_segments(request))).verdicts == ()


async def test_a_key_from_the_environment_is_sent(
    transport_for: Callable[[Handler], HttpxTransport], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []

    async def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return await _answer("safe")(request)

    monkeypatch.setenv("GUARD_KEY", "s3cret")
    await _assess(_guard(transport_for(capture), apiKeyEnv="GUARD_KEY"))
    assert seen == ["Bearer s3cret"]


def test_fail_must_be_chosen_explicitly() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="fail"):
        ExternalClassifierGuard.build(
            "c", {"url": "http://x", "model": "m", "timeout": 1}, GuardDeps()
        )

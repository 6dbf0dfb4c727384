"""The whole app in-process: fake engines behind `httpx.MockTransport`, the client on
`httpx.ASGITransport`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.openai.sse import DONE_EVENT
from gateway.state import Readiness
from tests.gateway.fake_engine import MODEL, EngineFleet, FakeEngine, sse_chunks
from tests.gateway.harness import running_gateway, two_engines

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]


def _chat(**fields: object) -> dict[str, object]:
    return {"model": MODEL, "messages": MESSAGES, **fields}


def _metric(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_body_is_forwarded_byte_for_byte_with_unknown_fields() -> None:
    engines = two_engines()
    body = (
        b'{"model": "%s", "messages": [{"role": "user", "content": "hi"}],'
        b' "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],'
        b' "tool_choice": "auto", "response_format": {"type": "json_object"},'
        b' "x_future_field": [1, 2.50, "\\u00e9"]}' % MODEL.encode()
    )
    async with running_gateway(engines) as (client, _):
        response = await client.post(
            CHAT,
            content=body,
            headers={
                "content-type": "application/json",
                "authorization": "Bearer client-secret",
                "x-request-id": "req-123",
                "x-custom": "kept",
            },
        )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-123"
    [sent] = engines.all_posts()
    assert sent.content == body
    assert "authorization" not in sent.headers
    assert sent.headers["x-request-id"] == "req-123"
    assert sent.headers["x-custom"] == "kept"


async def test_request_id_is_generated_when_absent() -> None:
    engines = two_engines()
    async with running_gateway(engines) as (client, _):
        response = await client.post(CHAT, json=_chat())
    generated = response.headers["x-request-id"]
    assert len(generated) == 32
    assert engines.all_posts()[0].headers["x-request-id"] == generated


async def test_stream_is_relayed_unchanged_and_counted() -> None:
    engines = two_engines()
    chunks = sse_chunks(5, usage=True)
    for engine in engines.engines:
        engine.stream_chunks = chunks
    async with running_gateway(engines) as (client, _):
        response = await client.post(
            CHAT, json=_chat(stream=True, stream_options={"include_usage": True})
        )
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "server" not in response.headers
    assert response.content == b"".join(chunks)
    assert _metric(metrics, "kvgate_tokens_total", kind="completion") == 5
    assert _metric(metrics, "kvgate_inter_chunk_seconds_count") == len(chunks) - 1
    assert _metric(metrics, "kvgate_requests_total", route="chat", status="200") == 1


async def test_engine_dying_mid_stream_gives_error_event_then_done() -> None:
    engines = EngineFleet([FakeEngine("http://127.0.0.1:18001", cut_after=3)])
    async with running_gateway(engines) as (client, _):
        response = await client.post(CHAT, json=_chat(stream=True))
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 200
    events = response.content.split(b"\n\n")
    assert response.content.endswith(DONE_EVENT)
    error = orjson.loads(events[-3].removeprefix(b"data: "))
    assert error["error"]["code"] == "upstream_disconnected"
    assert _metric(metrics, "kvgate_upstream_errors_total", kind="upstream_disconnected") == 1


@pytest.mark.parametrize(
    ("content", "status", "param"),
    [
        pytest.param(b"{oops", 400, None, id="malformed-json"),
        pytest.param(b'{"model": 1, "messages": []}', 400, "model", id="wrong-type"),
        pytest.param(b'{"model": "nope", "messages": [{}]}', 404, "model", id="unknown-model"),
        pytest.param(b"x" * 2048, 413, None, id="too-large"),
    ],
)
async def test_gateway_rejections_are_openai_shaped(
    content: bytes, status: int, param: str | None
) -> None:
    engines = two_engines()
    async with running_gateway(engines, max_body_bytes=1024) as (client, _):
        response = await client.post(CHAT, content=content)
        metrics = (await client.get("/metrics")).text
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert response.json()["error"]["param"] == param
    assert "x-request-id" in response.headers
    assert engines.all_posts() == []
    assert _metric(metrics, "kvgate_requests_total", status=str(status), model="unknown") == 1


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        pytest.param("/v1/nope", "GET", 404, id="unknown-path"),
        pytest.param(CHAT, "GET", 405, id="wrong-method"),
    ],
)
async def test_framework_rejections_are_openai_shaped(path: str, method: str, status: int) -> None:
    async with running_gateway(two_engines()) as (client, _):
        response = await client.request(method, path)
    assert response.status_code == status
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_unreachable_engine_is_retried_on_another_and_marked_unready() -> None:
    engines = two_engines()
    async with running_gateway(engines, routing_profile="round-robin") as (client, state):
        engines[0].reachable = False
        responses = [await client.post(CHAT, json=_chat()) for _ in range(4)]
        metrics = (await client.get("/metrics")).text
        ready = {snap.id: snap.ready for snap in state.datastore.snapshot().endpoints}
    assert [r.status_code for r in responses] == [200] * 4
    assert len(engines[1].posts()) == 4
    assert ready == {"127.0.0.1:18001": False, "127.0.0.1:18002": True}
    assert _metric(metrics, "kvgate_retries_total", reason="upstream_unreachable") == 1


@pytest.mark.parametrize("status", [502, 503])
async def test_overloaded_engine_status_is_retried_on_another(status: int) -> None:
    engines = two_engines()
    engines[0].status = status
    # Round-robin, so the failing engine is certainly tried (cache affinity would keep
    # every request on the engine that answered first).
    async with running_gateway(engines, routing_profile="round-robin") as (client, _):
        responses = [await client.post(CHAT, json=_chat()) for _ in range(4)]
        metrics = (await client.get("/metrics")).text
    assert [r.status_code for r in responses] == [200] * 4
    retried = len(engines[0].posts())
    assert retried >= 1
    assert len(engines[1].posts()) == 4
    assert _metric(metrics, "kvgate_retries_total", reason=f"status_{status}") == retried


@pytest.mark.parametrize(
    ("status", "engine_status"),
    [
        pytest.param(503, 503, id="503-relayed-when-no-other-engine"),
        pytest.param(400, 400, id="4xx-relayed"),
        pytest.param(500, 500, id="500-not-retried"),
    ],
)
async def test_engine_errors_are_relayed_as_they_are(status: int, engine_status: int) -> None:
    engines = EngineFleet([FakeEngine("http://127.0.0.1:18001", status=engine_status)])
    async with running_gateway(engines) as (client, _):
        response = await client.post(CHAT, json=_chat())
    assert response.status_code == status
    assert response.json()["error"]["message"] == "boom"
    assert len(engines[0].posts()) == 1


async def test_every_engine_unreachable_is_502() -> None:
    engines = two_engines()
    async with running_gateway(engines) as (client, _):
        for engine in engines.engines:
            engine.reachable = False
        first = await client.post(CHAT, json=_chat())
        second = await client.post(CHAT, json=_chat())
    assert first.status_code == 502
    assert first.json()["error"]["code"] == "upstream_unreachable"
    assert second.status_code == 503
    assert second.json()["error"]["code"] == "no_ready_engine"


async def test_first_byte_timeout_is_504() -> None:
    engines = EngineFleet([FakeEngine("http://127.0.0.1:18001", head_delay_s=5)])
    async with running_gateway(engines, first_byte_timeout=0.05) as (client, _):
        response = await client.post(CHAT, json=_chat())
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        pytest.param("/v1/completions", {"model": MODEL, "prompt": "hi"}, id="completions"),
        pytest.param("/v1/embeddings", {"model": MODEL, "input": ["a", "b"]}, id="embeddings"),
    ],
)
async def test_other_routes_proxy_to_their_path(path: str, fields: dict[str, object]) -> None:
    engines = two_engines()
    async with running_gateway(engines) as (client, _):
        response = await client.post(path, json=fields)
    assert response.status_code == 200
    assert [r.url.path for r in engines.all_posts()] == [path]


async def test_models_are_the_union_of_ready_engines_with_adapters() -> None:
    engines = EngineFleet(
        [
            FakeEngine("http://127.0.0.1:18001", adapters={"sql-lora": MODEL}),
            FakeEngine("http://127.0.0.1:18002", models=[MODEL, "other"]),
            FakeEngine("http://127.0.0.1:18003", models=["dead"], reachable=False),
        ]
    )
    async with running_gateway(engines) as (client, _):
        response = await client.get("/v1/models")
    assert response.status_code == 200
    cards = response.json()["data"]
    assert [card["id"] for card in cards] == [MODEL, "sql-lora", "other"]
    assert cards[1]["parent"] == MODEL


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        pytest.param(None, 401, id="missing"),
        pytest.param("Bearer wrong", 401, id="wrong"),
        pytest.param("Bearer sk-good", 200, id="good"),
    ],
)
async def test_api_keys_guard_openai_routes(
    tmp_path: Path, authorization: str | None, status: int
) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# keys\nsk-good\n")
    headers = {"authorization": authorization} if authorization else {}
    engines = two_engines()
    async with running_gateway(engines, api_key_file=keys) as (client, _):
        chat = await client.post(CHAT, json=_chat(), headers=headers)
        models = await client.get("/v1/models", headers=headers)
        ready = await client.get("/readyz")
    assert (chat.status_code, models.status_code) == (status, status)
    assert ready.status_code == 200
    if status == 401:
        assert chat.json()["error"]["code"] == "invalid_api_key"
    assert all("authorization" not in r.headers for r in engines.all_posts())


async def _wait_status(client: httpx.AsyncClient, path: str, status: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while (await client.get(path)).status_code != status:
        assert asyncio.get_running_loop().time() < deadline, f"{path} never answered {status}"
        await asyncio.sleep(0.01)


async def test_readiness_follows_engines_and_draining() -> None:
    engines = EngineFleet([FakeEngine("http://127.0.0.1:18001", reachable=False)])
    readiness = Readiness()
    async with running_gateway(engines, readiness, refresh_interval=0.01) as (client, _):
        assert (await client.get("/readyz")).status_code == 503
        engines[0].reachable = True
        await _wait_status(client, "/readyz", 200)
        engines[0].reachable = False
        await _wait_status(client, "/readyz", 503)
        engines[0].reachable = True
        await _wait_status(client, "/readyz", 200)
        readiness.start_draining()
        drained = await client.get("/readyz")
        alive = await client.get("/healthz")
        served = await client.post(CHAT, json=_chat())
    assert drained.status_code == 503
    assert drained.json()["draining"] is True
    assert alive.status_code == 200
    assert served.status_code == 200  # draining stops routing *to* us, not serving


async def test_upstream_credential_is_sent_to_engines() -> None:
    engines = two_engines()
    async with running_gateway(engines, upstream_api_key="engine-key") as (client, _):
        await client.post(CHAT, json=_chat(), headers={"authorization": "Bearer mine"})
    assert engines.all_posts()[0].headers["authorization"] == "Bearer engine-key"

"""The gateway app with Kubernetes discovery, in process: a loopback API server publishes
the engines, which answer through the transport seam."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.state import GatewayState
from tests.gateway.discovery.k8s_apiserver import FakeApiServer, Pod, endpoint_slice
from tests.gateway.discovery.test_kubernetes_discovery import eventually
from tests.gateway.fake_engine import MODEL, EngineFleet, FakeEngine, sse_chunks
from tests.gateway.harness import running_gateway
from tests.gateway.integration.helpers import metric_sum

CHAT = "/v1/chat/completions"
A, B = "10.0.0.1:8000", "10.0.0.2:8000"
# Long enough for whole prefix blocks, so routing records it in the prefix index.
PROMPT = " ".join(f"word{i}" for i in range(120))


@pytest.fixture
async def apiserver() -> AsyncIterator[FakeApiServer]:
    server = FakeApiServer(bookmark_interval_s=0.2)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def kubeconfig(apiserver: FakeApiServer, tmp_path: Path) -> Path:
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")


def publish(server: FakeApiServer, *pods: Pod) -> None:
    server.put(endpoint_slice("vllm-1", "vllm", list(pods)))


def k8s_settings(kubeconfig: Path, **settings: Any) -> dict[str, Any]:
    return {
        "backends": (),
        "k8s_services": ("vllm",),
        "kubeconfig": kubeconfig,
        "routing_profile": "round-robin",
        **settings,
    }


def chat(**fields: object) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], **fields}


async def engine_of(client: httpx.AsyncClient) -> str:
    response = await client.post(CHAT, json=chat())
    assert response.status_code == 200
    return response.headers["x-kvgate-engine"]


async def metric(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    return metric_sum((await client.get("/metrics")).text, name, **labels)


def in_flight(state: GatewayState) -> dict[str, int]:
    return {snap.id: snap.in_flight for snap in state.datastore.snapshot().endpoints}


async def test_a_terminating_engine_finishes_its_stream_and_gets_no_new_requests(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    engines = EngineFleet([FakeEngine(f"http://{A}"), FakeEngine(f"http://{B}")])
    for engine in engines.engines:
        engine.stream_chunks = sse_chunks(40)
        engine.chunk_delay_s = 0.02
    publish(apiserver, Pod("10.0.0.1"), Pod("10.0.0.2"))
    async with running_gateway(engines, **k8s_settings(kubeconfig)) as (client, state):
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["discovery"]["synced"] is True
        assert ready.json()["discovery"]["endpoints"]["serving"] == 2
        assert {await engine_of(client) for _ in range(4)} == {A, B}
        assert await metric(client, "kvgate_prefix_index_endpoints") == 2

        stream = asyncio.create_task(client.post(CHAT, json=chat(stream=True)))
        await eventually(lambda: sum(in_flight(state).values()) == 1, "the stream started")
        busy = next(engine for engine, count in in_flight(state).items() if count)
        other = B if busy == A else A
        publish(
            apiserver,
            Pod(busy.split(":")[0], ready=False, serving=True, terminating=True),
            Pod(other.split(":")[0]),
        )
        await eventually(lambda: state.datastore.draining() == {busy: 1}, "draining")
        assert {await engine_of(client) for _ in range(4)} == {other}
        assert await metric(client, "kvgate_engine_in_flight_requests", engine=busy) == 1

        streamed = await stream
        assert streamed.status_code == 200
        assert streamed.content.rstrip().endswith(b"data: [DONE]")
        assert b'"error"' not in streamed.content
        assert state.datastore.draining() == {}
        assert await metric(client, "kvgate_engine_in_flight_requests", engine=busy) == 0
        assert await metric(client, "kvgate_engine_ready", engine=busy) == 0
        # Gone for good: its cached prefixes leave the index too.
        for _ in range(500):
            if await metric(client, "kvgate_prefix_index_endpoints") == 1:
                break
            await asyncio.sleep(0.02)
        assert await metric(client, "kvgate_prefix_index_endpoints") == 1

        publish(apiserver, Pod(other.split(":")[0]))
        await eventually(
            lambda: (
                state.discovery is not None
                and state.discovery.health().endpoints["terminating"] == 0
            ),
            "removed",
        )
        assert await metric(client, "kvgate_discovery_engines", state="serving") == 1
        assert await metric(client, "kvgate_discovery_synced", pool="vllm") == 1


async def test_readiness_waits_for_the_first_list_and_survives_an_outage(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    engines = EngineFleet([FakeEngine(f"http://{A}")])
    publish(apiserver, Pod("10.0.0.1"))
    good, apiserver.token = apiserver.token, "rotated"  # the gateway's token is refused
    settings = k8s_settings(kubeconfig, k8s_sync_timeout=0.1)
    async with running_gateway(engines, **settings) as (client, state):
        waiting = await client.get("/readyz")
        assert waiting.status_code == 503
        assert waiting.json()["discovery"]["synced"] is False
        assert waiting.json()["discovery"]["pools"]["vllm"]["errors"]["rejected"] >= 1
        apiserver.token = good
        await _wait_ready(client)
        assert await engine_of(client) == A

        await apiserver.stop()
        assert state.discovery is not None
        discovery = state.discovery
        await eventually(
            lambda: discovery.health().sources[0].errors.get("unavailable", 0) >= 1, "outage"
        )
        during = await client.get("/readyz")
        assert during.status_code == 200, "the last known engines keep routing"
        assert await engine_of(client) == A


async def _wait_ready(client: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while (await client.get("/readyz")).status_code != 200:
        assert loop.time() < deadline, "/readyz never answered 200"
        await asyncio.sleep(0.02)

"""`kvgate serve --k8s-service`: a real gateway process and two real simulated engines,
whose addresses a loopback Kubernetes API server publishes as EndpointSlices."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from loadtests.fleet import Fleet, ManagedProcess
from tests.gateway.discovery.k8s_apiserver import FakeApiServer, Pod, endpoint_slice
from tests.gateway.integration.conftest import MODEL
from tests.gateway.integration.helpers import poll, scrape
from tests.gateway.integration.routing import chat, stream

T = TypeVar("T")

# Every engine step takes 10 ms: a 4-token answer is quick, a 600-token stream takes seconds.
SIM_ARGS = ["--profile-override", "step_overhead_s=0.01"]
LONG_STREAM = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Tell me a long story."}],
    "max_tokens": 600,
    "stream": True,
}


class ThreadedApiServer:
    """The loopback API server on an event loop of its own thread, so the test's blocking
    HTTP calls do not stall it; every call into it runs on that loop."""

    def __init__(self) -> None:
        self.server = FakeApiServer(bookmark_interval_s=0.2)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-apiserver")

    def __enter__(self) -> ThreadedApiServer:
        self._thread.start()
        self.wait(self.server.start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wait(self.server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def wait(self, work: Coroutine[object, object, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(10)

    def run(self, call: Callable[[], T]) -> T:
        async def on_loop() -> T:
            return call()

        return self.wait(on_loop())

    def publish(self, sim: ManagedProcess, pod: Pod | None = None) -> None:
        """`sim`'s slice of Service `vllm`: its only port is the engine's HTTP port."""
        pods = [pod or Pod("127.0.0.1")]
        ports = (("http", sim.port),)
        self.run(lambda: self.server.put(endpoint_slice(sim.name, "vllm", pods, ports=ports)))


@pytest.fixture
def apiserver() -> Iterator[ThreadedApiServer]:
    with ThreadedApiServer() as server:
        yield server


def engine_id(sim: ManagedProcess) -> str:
    return f"127.0.0.1:{sim.port}"


def readyz(gateway: ManagedProcess) -> tuple[int, dict[str, object]]:
    response = httpx.get(gateway.url + "/readyz", trust_env=False, timeout=5)
    return response.status_code, response.json()


def discovery_state(gateway: ManagedProcess) -> dict[str, object]:
    discovery = readyz(gateway)[1]["discovery"]
    assert isinstance(discovery, dict)
    return discovery


def engines_answering(gateway: ManagedProcess, count: int = 6) -> set[str]:
    answers = [stream(gateway.url, chat("You are terse.", f"Question {i}?")) for i in range(count)]
    assert all(answer.status == 200 and answer.complete for answer in answers)
    return {answer.engine for answer in answers}


def test_kubernetes_discovery_routes_drains_and_outlives_the_api_server(
    fleet: Fleet, apiserver: ThreadedApiServer, tmp_path: Path
) -> None:
    sims = [fleet.start_sim(profile="instant", model=MODEL, extra_args=SIM_ARGS) for _ in range(2)]
    for sim in sims:
        apiserver.publish(sim)
    kubeconfig = apiserver.server.write_kubeconfig(tmp_path / "kubeconfig")
    good = apiserver.server.token
    apiserver.server.token = "rotated"  # the gateway's first lists are refused
    gateway = fleet.start_gateway(
        [],
        extra_args=[
            *("--k8s-service", "vllm", "--kubeconfig", str(kubeconfig)),
            *("--k8s-sync-timeout", "0.5", "--routing-profile", "round-robin"),
        ],
        ready_path="/healthz",
    )
    status, body = readyz(gateway)
    assert (status, body["ready"]) == (503, False)
    assert discovery_state(gateway)["synced"] is False
    apiserver.server.token = good
    poll(lambda: readyz(gateway)[0] == 200, what="/readyz once every pool is listed")
    assert discovery_state(gateway)["synced"] is True

    # Both engines get requests.
    assert engines_answering(gateway) == {engine_id(sim) for sim in sims}

    # One engine terminates while it streams: the stream completes, new requests avoid it.
    with (
        httpx.Client(base_url=gateway.url, trust_env=False, timeout=60) as http,
        http.stream("POST", "/v1/chat/completions", json=LONG_STREAM) as response,
    ):
        assert response.status_code == 200
        chunks = response.iter_raw()
        received = [next(chunks)]
        busy_id = response.headers["x-kvgate-engine"]
        busy, other = sims if engine_id(sims[0]) == busy_id else sims[::-1]
        apiserver.publish(busy, Pod("127.0.0.1", ready=False, serving=True, terminating=True))
        poll(
            lambda: (
                discovery_state(gateway)["endpoints"]
                == {
                    "serving": 1,
                    "terminating": 1,
                    "not_ready": 0,
                }
            ),
            what="the engine seen terminating",
        )
        assert engines_answering(gateway) == {engine_id(other)}
        assert readyz(gateway)[1]["draining_engines"] == 1
        assert scrape(gateway, "kvgate_engine_in_flight_requests", engine=busy_id) == 1
        assert scrape(busy, "vllm:num_requests_running") == 1, "the stream is still running"
        received += list(chunks)
    body_bytes = b"".join(received)
    assert body_bytes.rstrip().endswith(b"data: [DONE]")
    assert b'"finish_reason":"length"' in body_bytes
    assert b'"error"' not in body_bytes
    poll(
        lambda: scrape(gateway, "kvgate_engine_in_flight_requests", engine=busy_id) == 0,
        what="the drained engine's in-flight count at 0",
    )
    assert readyz(gateway)[1]["draining_engines"] == 0

    # Its pod is gone.
    apiserver.run(lambda: apiserver.server.delete(busy.name))
    poll(
        lambda: (
            discovery_state(gateway)["endpoints"]
            == {
                "serving": 1,
                "terminating": 0,
                "not_ready": 0,
            }
        ),
        what="the engine removed",
    )
    assert scrape(gateway, "kvgate_discovery_engines", state="serving") == 1

    # The API server goes away: the last known engines keep routing, and the gateway ready.
    apiserver.wait(apiserver.server.stop())
    poll(
        lambda: scrape(gateway, "kvgate_discovery_errors_total", kind="unavailable") >= 1,
        what="the outage seen",
    )
    assert readyz(gateway)[0] == 200
    assert engines_answering(gateway) == {engine_id(other)}

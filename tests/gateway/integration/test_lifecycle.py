"""Client disconnects and SIGTERM drains, observed from the engine's own metrics."""

from __future__ import annotations

import signal

import httpx
import pytest

from loadtests.fleet import Fleet
from tests.gateway.integration.conftest import MODEL
from tests.gateway.integration.helpers import poll, scrape

LONG_STREAM = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Tell me a long story."}],
    "max_tokens": 4000,
    "stream": True,
}


@pytest.mark.parametrize("upstream_client", ["aiohttp", "httpx"])
def test_client_disconnect_aborts_the_request_on_the_engine(
    fleet: Fleet, upstream_client: str
) -> None:
    sim = fleet.start_sim(profile="tiny", model=MODEL)
    gateway = fleet.start_gateway([sim.url], extra_args=["--upstream-client", upstream_client])
    with (
        httpx.Client(base_url=gateway.url, trust_env=False, timeout=30) as http,
        http.stream("POST", "/v1/chat/completions", json=LONG_STREAM) as response,
    ):
        assert response.status_code == 200
        chunks = response.iter_raw()
        for _ in range(3):
            next(chunks)
        assert scrape(sim, "vllm:num_requests_running") == 1
    # Leaving the `with` closed the connection mid-stream.
    poll(
        lambda: scrape(sim, "vllm:request_success_total", finished_reason="abort") == 1,
        what="engine abort",
    )
    poll(lambda: scrape(sim, "vllm:num_requests_running") == 0, what="engine idle")
    poll(lambda: scrape(gateway, "kvgate_engine_in_flight_requests") == 0, what="gateway in-flight")


def test_sigterm_drains_running_streams_then_exits(fleet: Fleet) -> None:
    sim = fleet.start_sim(profile="tiny", model=MODEL)
    gateway = fleet.start_gateway(
        [sim.url], extra_args=["--shutdown-delay", "1", "--drain-timeout", "60"]
    )
    # About 7 s of decoding on the tiny profile: far longer than the 1 s shutdown delay.
    stream = {**LONG_STREAM, "max_tokens": 1000}
    with (
        httpx.Client(base_url=gateway.url, trust_env=False, timeout=60) as http,
        http.stream("POST", "/v1/chat/completions", json=stream) as response,
    ):
        chunks = response.iter_raw()
        received = [next(chunks)]
        gateway.signal(signal.SIGTERM)
        poll(lambda: _readyz(gateway.url) == 503, what="/readyz 503 while draining")
        poll(lambda: _readyz(gateway.url) is None, what="listener closed")
        assert gateway.popen.poll() is None  # still draining our stream
        received += list(chunks)
    body = b"".join(received)
    assert body.rstrip().endswith(b"data: [DONE]")
    assert b'"finish_reason":"length"' in body
    assert b'"error"' not in body
    poll(lambda: gateway.popen.poll() is not None, what="gateway exit")
    assert scrape(sim, "vllm:request_success_total", finished_reason="length") == 1


def _readyz(url: str) -> int | None:
    try:
        return httpx.get(url + "/readyz", trust_env=False, timeout=2).status_code
    except httpx.TransportError:
        return None


def test_drain_deadline_cancels_what_is_left(fleet: Fleet) -> None:
    sim = fleet.start_sim(profile="tiny", model=MODEL)
    gateway = fleet.start_gateway([sim.url], extra_args=["--drain-timeout", "1"])
    with (
        httpx.Client(base_url=gateway.url, trust_env=False, timeout=60) as http,
        http.stream("POST", "/v1/chat/completions", json=LONG_STREAM) as response,
    ):
        chunks = response.iter_raw()
        received = [next(chunks)]
        gateway.signal(signal.SIGTERM)
        received += list(chunks)
    events = [e for e in b"".join(received).split(b"\n\n") if e.strip()]
    assert events[-1] == b"data: [DONE]"
    assert b'"request_cancelled"' in events[-2]
    poll(lambda: gateway.popen.poll() is not None, what="gateway exit")
    poll(
        lambda: scrape(sim, "vllm:request_success_total", finished_reason="abort") == 1,
        what="engine abort",
    )

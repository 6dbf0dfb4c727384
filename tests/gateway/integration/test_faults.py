"""Engines failing in every way a router must survive, with real processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from loadtests.fleet import Fleet, free_port
from tests.gateway.integration.conftest import MODEL, SharedFleet
from tests.gateway.integration.helpers import clear_faults, scrape, set_faults

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


@pytest.fixture(scope="module")
def faulty() -> Iterator[SharedFleet]:
    # A long refresh interval keeps the gateway from noticing faults on its own, so each
    # test sees the request path handle them; round-robin makes sure both engines are tried
    # (cache affinity would keep these identical prompts on one).
    with Fleet() as fleet:
        yield SharedFleet(fleet, "--refresh-interval", "600", "--routing-profile", "round-robin")


@pytest.fixture(autouse=True)
def _clear(faulty: SharedFleet) -> Iterator[None]:
    yield
    for sim in faulty.sims:
        clear_faults(sim)


def _post_many(url: str, count: int, **fields: object) -> list[httpx.Response]:
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as http:
        return [http.post("/v1/chat/completions", json={**CHAT, **fields}) for _ in range(count)]


@pytest.mark.parametrize("status", [502, 503])
def test_status_before_first_byte_is_retried_on_the_other_engine(
    faulty: SharedFleet, status: int
) -> None:
    set_faults(faulty.sims[0], http_status=status, http_status_rate=1.0)
    retries_before = scrape(faulty.gateway, "kvgate_retries_total", reason=f"status_{status}")
    responses = _post_many(faulty.gateway.url, 4)
    assert [r.status_code for r in responses] == [200] * 4
    retries = scrape(faulty.gateway, "kvgate_retries_total", reason=f"status_{status}")
    assert retries > retries_before


def test_engine_dying_mid_stream_ends_with_error_event_and_done(faulty: SharedFleet) -> None:
    for sim in faulty.sims:
        set_faults(sim, cut_after_chunks=2)
    with httpx.Client(base_url=faulty.gateway.url, trust_env=False, timeout=30) as http:
        response = http.post(
            "/v1/chat/completions", json={**CHAT, "max_tokens": 20, "stream": True}
        )
    assert response.status_code == 200
    events = [e for e in response.content.split(b"\n\n") if e.strip()]
    assert events[-1] == b"data: [DONE]"
    error = orjson.loads(events[-2].removeprefix(b"data: "))
    assert error["error"]["code"] == "upstream_disconnected"
    assert len(events) >= 4  # role chunk, two content chunks, error, [DONE]


def test_sdk_raises_a_clean_error_when_the_engine_dies_mid_stream(faulty: SharedFleet) -> None:
    for sim in faulty.sims:
        set_faults(sim, cut_after_chunks=3)
    sdk = openai.OpenAI(base_url=faulty.gateway.url + "/v1", api_key="x", max_retries=0)
    with sdk:
        stream = sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=20,
            stream=True,
        )
        with pytest.raises(openai.APIError):
            list(stream)


def test_engine_at_a_closed_port_is_never_used(faulty: SharedFleet) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    gateway = faulty.fleet.start_gateway([closed, faulty.sims[0].url])
    responses = _post_many(gateway.url, 4)
    assert [r.status_code for r in responses] == [200] * 4
    ready = httpx.get(gateway.url + "/readyz", trust_env=False).json()
    assert ready["ready_engines"] == 1
    gateway.stop()


def test_engine_stopping_is_retried_on_another(faulty: SharedFleet) -> None:
    # Its own engine to stop, so the module's engines stay up.
    doomed = faulty.fleet.start_sim(profile="instant", model=MODEL)
    gateway = faulty.fleet.start_gateway(
        [doomed.url, faulty.sims[1].url],
        extra_args=["--refresh-interval", "600", "--routing-profile", "round-robin"],
    )
    doomed.stop()
    responses = _post_many(gateway.url, 4)
    assert [r.status_code for r in responses] == [200] * 4
    assert scrape(gateway, "kvgate_retries_total", reason="upstream_unreachable") >= 1
    assert scrape(gateway, "kvgate_engine_ready", engine=f"127.0.0.1:{doomed.port}") == 0
    gateway.stop()


def test_stalled_engine_hits_the_first_byte_timeout(faulty: SharedFleet) -> None:
    gateway = faulty.fleet.start_gateway(
        [faulty.sims[0].url], extra_args=["--first-byte-timeout", "0.3"]
    )
    set_faults(faulty.sims[0], stall_first_byte_s=30.0)
    [response] = _post_many(gateway.url, 1)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    gateway.stop()


def test_httpx_upstream_client_relays_and_survives_faults(faulty: SharedFleet) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    gateway = faulty.fleet.start_gateway(
        [faulty.sims[0].url, closed],
        extra_args=["--upstream-client", "httpx", "--refresh-interval", "600"],
    )
    with httpx.Client(base_url=gateway.url, trust_env=False, timeout=30) as http:
        plain = http.post("/v1/chat/completions", json=CHAT)
        streamed = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
        set_faults(faulty.sims[0], cut_after_chunks=1)
        cut = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert plain.status_code == 200
    assert streamed.content.rstrip().endswith(b"data: [DONE]")
    assert b'"upstream_disconnected"' in cut.content
    assert cut.content.rstrip().endswith(b"data: [DONE]")
    gateway.stop()

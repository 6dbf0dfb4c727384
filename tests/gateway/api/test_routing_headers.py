"""Routing through the whole app in-process: transparency headers, classes, load, policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.config.policies import as_yaml, default_document
from tests.gateway.fake_engine import MODEL, EngineFleet, FakeEngine
from tests.gateway.harness import running_gateway, two_engines

CHAT = "/v1/chat/completions"
DOCUMENT = "Every engine keeps the blocks of the prompts it served. " * 80


def _chat(question: str) -> dict[str, object]:
    messages = [{"role": "system", "content": DOCUMENT}, {"role": "user", "content": question}]
    return {"model": MODEL, "messages": messages, "max_tokens": 2}


async def test_headers_name_engine_class_and_predicted_cache() -> None:
    engines = two_engines()
    async with running_gateway(engines) as (client, _):
        first = await client.post(CHAT, json=_chat("first?"))
        second = await client.post(CHAT, json=_chat("second?"))
        batch = await client.post(CHAT, json=_chat("third?"), headers={"x-kvgate-class": "batch"})
        metrics = (await client.get("/metrics")).text
    assert first.headers["x-kvgate-class"] == "chat"
    assert first.headers["x-kvgate-cached-tokens"] == "0"
    assert second.headers["x-kvgate-engine"] == first.headers["x-kvgate-engine"]
    assert int(second.headers["x-kvgate-cached-tokens"]) > 500
    assert batch.headers["x-kvgate-class"] == "batch"
    assert 'kvgate_routing_decisions_total{class="chat",engine=' in metrics
    assert 'profile="batch"' in metrics
    assert "kvgate_prefix_index_entries" in metrics


async def test_saturated_engine_is_skipped_while_another_has_room() -> None:
    engines = EngineFleet(
        [FakeEngine("http://127.0.0.1:18001", waiting=50), FakeEngine("http://127.0.0.1:18002")]
    )
    async with running_gateway(engines) as (client, _):
        for i in range(6):
            response = await client.post(CHAT, json=_chat(f"q{i}"))
            assert response.headers["x-kvgate-engine"] == "127.0.0.1:18002"


async def test_policy_file_can_turn_headers_off_and_route_by_profile(tmp_path: Path) -> None:
    document = default_document()
    document["responseHeaders"] = {"enabled": False}
    path = tmp_path / "routing.yaml"
    path.write_bytes(as_yaml(document))
    engines = two_engines()
    settings = {"policy_file": path, "routing_profile": "round-robin"}
    async with running_gateway(engines, **settings) as (client, _):
        responses = [await client.post(CHAT, json=_chat("same?")) for _ in range(4)]
    assert all("x-kvgate-engine" not in r.headers for r in responses)
    assert [len(engine.posts()) for engine in engines.engines] == [2, 2]


@pytest.mark.parametrize("enabled", [True, False])
async def test_kv_aware_routing_switch(enabled: bool) -> None:
    async with running_gateway(two_engines(), kv_aware_routing=enabled) as (client, _):
        await client.post(CHAT, json=_chat("one?"))
        second = await client.post(CHAT, json=_chat("two?"))
    assert (int(second.headers["x-kvgate-cached-tokens"]) > 0) is enabled


async def test_a_refused_prompt_is_not_recorded_as_cached() -> None:
    engines = two_engines()
    for engine in engines.engines:
        engine.status = 400
    async with running_gateway(engines) as (client, _):
        response = await client.post(CHAT, json=_chat("refused?"))
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 400
    assert "kvgate_prefix_records_total{" not in metrics

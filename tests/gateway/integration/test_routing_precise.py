"""Precise prefix locality: the engines' KV events, not the gateway's guesses, feed the index."""

from __future__ import annotations

import json

import httpx

from loadtests.fleet import Fleet, ManagedProcess, free_port
from tests.gateway.integration.conftest import MODEL
from tests.gateway.integration.helpers import poll, scrape
from tests.gateway.integration.routing import Answer, chat, prose, stream

# 256 blocks of 16 tokens: a few thousand tokens of other prompts evict everything older.
CACHE_BLOCKS = 256


def _sim_with_events(fleet: Fleet) -> tuple[ManagedProcess, int]:
    port = free_port()
    config = {
        "enable_kv_cache_events": True,
        "publisher": "zmq",
        "endpoint": f"tcp://*:{port}",
        "topic": "kv-events",
    }
    args = ["--time-scale", "4", "--num-gpu-blocks-override", str(CACHE_BLOCKS)]
    args += ["--kv-events-config", json.dumps(config)]
    return fleet.start_sim(profile="tiny", model=MODEL, extra_args=args), port


def _direct(sim: ManagedProcess, text: str) -> None:
    body = {"model": MODEL, "prompt": text, "max_tokens": 1}
    httpx.post(
        sim.url + "/v1/completions", json=body, timeout=30, trust_env=False
    ).raise_for_status()


def _blocks(gateway: ManagedProcess, sim: ManagedProcess, kind: str) -> float:
    engine = f"127.0.0.1:{sim.port}"
    return scrape(gateway, "kvgate_kv_event_blocks_total", engine=engine, kind=kind)


def test_an_evicted_prefix_is_no_longer_preferred(fleet: Fleet) -> None:
    sims = [_sim_with_events(fleet) for _ in range(2)]
    args = ["--prefix-mode", "precise"]
    for sim, port in sims:
        args += ["--kv-events-endpoint", f"{sim.url}=tcp://127.0.0.1:{port}"]
    gateway = fleet.start_gateway([sim.url for sim, _ in sims], extra_args=args)
    engines = {f"127.0.0.1:{sim.port}": sim for sim, _ in sims}

    # ZMQ subscribers miss what was published before they connected: wait until each
    # engine's events reach the gateway.
    for sim, _ in sims:
        poll(
            lambda sim=sim: _direct(sim, prose("hello", 40)) or _blocks(gateway, sim, "stored") > 0,
            what="KV events flowing",
        )

    document = prose("precise-doc", 800)
    stored_before = {engine: _blocks(gateway, sim, "stored") for engine, sim in engines.items()}
    first = stream(gateway.url, chat(document, "First question?"))
    holder = engines[first.engine]
    # The counter also holds the warm-up prompts' blocks: wait for the document's own.
    poll(
        lambda: _blocks(gateway, holder, "stored") >= stored_before[first.engine] + 50,
        what="document blocks stored",
    )
    # Under heavy machine load the holder is occasionally not yet predicted for the very
    # next request (seen in CI-like runs, cause not yet found); a few follow-up questions
    # must still settle on it with the document cached.
    answers: list[Answer] = []

    def settles_on_holder() -> bool:
        answers.append(stream(gateway.url, chat(document, f"Question {len(answers) + 2}?")))
        return (answers[-1].engine, answers[-1].cached_tokens > 750) == (first.engine, True)

    poll(settles_on_holder, timeout=20, what=f"a follow-up predicted on the holder: {answers}")
    assert scrape(gateway, "kvgate_prefix_records_total") == 0  # precise: nothing guessed

    # Fill the holder's cache with other prompts: it evicts the document and says so.
    removed = _blocks(gateway, holder, "removed")
    for i in range(6):
        _direct(holder, prose(f"filler-{i}", 1000))
    poll(lambda: _blocks(gateway, holder, "removed") >= removed + 50, what="eviction events")

    third = stream(gateway.url, chat(document, "Third question?"))
    assert third.status == 200
    assert third.cached_tokens == 0, third  # no engine is believed to hold it any more
    gateway.stop()

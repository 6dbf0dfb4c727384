"""Prefix-aware routing over four simulated engines: cache hits, balance, hot prefixes.

The engines' own counters (`vllm:prefix_cache_hits_total / _queries_total`) are the
measure: the gateway's predictions are not trusted to grade themselves.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest

from loadtests.fleet import Fleet, ManagedProcess
from tests.gateway.integration.conftest import MODEL
from tests.gateway.integration.routing import (
    PrefixCounters,
    chat,
    hit_rate,
    prose,
    stream,
    stream_all,
)

# 1024 blocks of 16 tokens per engine: the shared-prefix workload's 24 documents (~50k
# tokens) fit in the four caches together (~64k) but not in any one (~16k), as in a real
# fleet whose working set is larger than one GPU's cache.
SIM_ARGS = ["--time-scale", "2", "--num-gpu-blocks-override", "1024"]


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[Fleet, list[ManagedProcess]]]:
    with Fleet() as fleet:
        yield (
            fleet,
            [fleet.start_sim(profile="tiny", model=MODEL, extra_args=SIM_ARGS) for _ in range(4)],
        )


def _shared_prefix_run(url: str, seed: str) -> list[str]:
    """24 groups × 3 questions over a 2000-token document each, shuffled, 16 at a time."""
    documents = [prose(f"{seed}-doc-{g}", 2000) for g in range(24)]
    bodies = [
        chat(documents[g], prose(f"{seed}-q-{g}-{q}", 40), max_tokens=48)
        for g in range(24)
        for q in range(3)
    ]
    random.Random(seed).shuffle(bodies)
    answers = stream_all(url, bodies, concurrency=16)
    assert all(a.status == 200 and a.complete for a in answers)
    return [a.engine for a in answers]


def test_shared_prefix_hit_rate_beats_round_robin_and_stays_balanced(
    sims: tuple[Fleet, list[ManagedProcess]],
) -> None:
    fleet, engines = sims
    urls = [sim.url for sim in engines]
    baseline = fleet.start_gateway(urls, extra_args=["--routing-profile", "round-robin"])
    before = [PrefixCounters.of(sim) for sim in engines]
    _shared_prefix_run(baseline.url, "rr")
    round_robin = hit_rate(before, [PrefixCounters.of(sim) for sim in engines])
    baseline.stop()

    gateway = fleet.start_gateway(urls)
    before = [PrefixCounters.of(sim) for sim in engines]
    chosen = _shared_prefix_run(gateway.url, "kv")
    prefix_aware = hit_rate(before, [PrefixCounters.of(sim) for sim in engines])
    per_engine = Counter(chosen)
    print(f"hit rate: default {prefix_aware:.3f}, round-robin {round_robin:.3f}; {per_engine}")
    assert prefix_aware >= 2 * round_robin, (prefix_aware, round_robin)
    counts = [per_engine[f"127.0.0.1:{sim.port}"] for sim in engines]
    assert max(counts) <= 2 * min(counts), counts
    gateway.stop()


@pytest.mark.parametrize(
    ("profile", "spreads"),
    [pytest.param(None, True, id="default"), pytest.param("prefix-only", False, id="prefix-only")],
)
def test_a_hot_prefix_spreads_once_its_engine_is_busy(
    sims: tuple[Fleet, list[ManagedProcess]], profile: str | None, spreads: bool
) -> None:
    """One document everyone asks about, 32 questions at once. The engine that cached it
    first takes the first few, then the load bound sends the rest elsewhere (which then
    cache it too). Without the bound (`prefix-only`) every request piles onto one engine."""
    fleet, engines = sims
    extra = ["--routing-profile", profile] if profile else []
    gateway = fleet.start_gateway([sim.url for sim in engines], extra_args=extra)
    document = prose(f"hot-{profile}", 2500)
    warm = stream(gateway.url, chat(document, "warm up?", max_tokens=2))
    bodies = [chat(document, prose(f"hot-q-{profile}-{i}", 30), max_tokens=300) for i in range(32)]
    answers = stream_all(gateway.url, bodies, concurrency=32)
    gateway.stop()
    assert all(a.status == 200 and a.complete for a in answers)
    per_engine = Counter(a.engine for a in answers)
    print(f"{profile or 'default'}: {per_engine}, warm engine {warm.engine}")
    if spreads:
        assert len(per_engine) == 4, per_engine
        assert per_engine[warm.engine] <= 16, per_engine
    else:
        assert per_engine == {warm.engine: 32}

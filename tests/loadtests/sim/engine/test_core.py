"""EngineCore: outputs, timings, aborts and determinism."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from loadtests.sim.engine.core import EngineCore
from loadtests.sim.engine.types import RequestOutput

from .engine_helpers import Run, make_core, make_request, random_tokens, run, run_steps, text_tokens


def test_outputs_stream_the_planned_tokens_with_timings() -> None:
    core, _ = make_core()
    request = make_request("r", text_tokens(100), 4, finish_reason="stop", arrival_time=0.5)
    core.add_request(request)
    result = run(core, start=1.0)
    ends = [s.now + s.duration for s in result.steps]
    assert [o for step in result.outputs for o in step] == [
        RequestOutput("r", (t,), i == 3, "stop" if i == 3 else None, 0)
        for i, t in enumerate(request.output_token_ids)
    ]
    assert result.steps[0].ttfts == [pytest.approx(ends[0] - 0.5)]
    assert [s.inter_token_latencies for s in result.steps[1:]] == [
        [pytest.approx(b - a)] for a, b in pairwise(ends)
    ]
    assert [s.generation_tokens for s in result.steps] == [1, 1, 1, 1]
    assert [s.prompt_tokens for s in result.steps] == [100, 0, 0, 0]
    (finished,) = result.steps[-1].finished
    assert (finished.finish_reason, finished.prompt_tokens, finished.generation_tokens) == (
        "stop",
        100,
        4,
    )
    assert finished.arrival_time == 0.5
    assert finished.first_scheduled_time == 1.0
    assert finished.first_token_time == pytest.approx(ends[0])
    assert finished.finished_time == pytest.approx(ends[-1])


def test_abort_frees_blocks_keeps_them_cached_and_is_idempotent() -> None:
    core, _ = make_core()
    prompt = text_tokens(200)
    core.add_request(make_request("victim", prompt, 100))
    for _ in range(3):
        core.step(0.0)
    assert core.snapshot().kv_cache_usage > 0
    assert core.abort_request("victim", now=0.1) == RequestOutput("victim", (), True, "abort", 0)
    assert core.abort_request("victim") is None
    assert core.abort_request("never-seen") is None
    snapshot = core.snapshot()
    assert (snapshot.num_running, snapshot.kv_cache_usage) == (0, 0.0)
    assert snapshot.num_cached_blocks == 12  # 202 computed tokens
    assert core.has_work()  # the abort's stats are still to be reported
    step = core.step(0.2)
    assert (step.duration, step.outputs) == (0.0, [])
    (finished,) = step.stats.finished
    assert (finished.request_id, finished.finish_reason, finished.finished_time) == (
        "victim",
        "abort",
        0.1,
    )
    assert not core.has_work()
    core.add_request(make_request("again", prompt, 1))
    assert run(core).final("again").num_cached_tokens == 192


def test_abort_a_waiting_request() -> None:
    core, _ = make_core(max_num_seqs_override=1)
    core.add_request(make_request("running", random_tokens(50, seed=1), 5))
    core.add_request(make_request("waiting", random_tokens(50, seed=2), 5))
    core.step(0.0)
    assert core.abort_request("waiting") is not None
    assert core.snapshot().num_waiting == 0
    assert {o.request_id for step in run(core).outputs for o in step} == {"running"}


def test_rejects_duplicate_ids_and_empty_prompts() -> None:
    core, _ = make_core()
    core.add_request(make_request("r", [1, 2, 3]))
    with pytest.raises(ValueError, match="already"):
        core.add_request(make_request("r", [1, 2, 3]))
    with pytest.raises(ValueError, match="outside"):
        core.add_request(make_request("empty", []))


def test_slowdown_multiplies_step_time() -> None:
    durations = []
    for slowdown in (1.0, 3.0):
        core, _ = make_core()
        core.slowdown = slowdown
        core.add_request(make_request("r", text_tokens(500), 1))
        durations.append(core.step(0.0).duration)
    assert durations[1] == pytest.approx(3 * durations[0])


def test_runs_are_deterministic() -> None:
    def once() -> tuple[object, ...]:
        core, batches = make_core(num_gpu_blocks_override=40)
        for i in range(12):
            prompt = text_tokens(40, seed=i % 2) + random_tokens(30 + 7 * i, seed=i)
            core.add_request(make_request(f"r{i}", prompt, 20 + i, priority=i % 3))
        result = run(core)
        return result.outputs, result.steps, batches

    assert once() == once()


@pytest.mark.parametrize("policy", ["fcfs", "priority"])
@pytest.mark.parametrize("caching", [True, False], ids=["caching", "no-caching"])
def test_invariants_hold_under_a_random_workload(policy: str, caching: bool) -> None:
    core, _ = make_core(
        num_gpu_blocks_override=30,
        max_num_batched_tokens_override=128,
        scheduling_policy=policy,
        enable_prefix_caching=caching,
    )
    rng = random.Random(42)
    shared = text_tokens(40)
    planned: dict[str, list[int]] = {}
    live: set[str] = set()
    result = Run()
    for n in range(300):
        if rng.random() < 0.3:
            prompt = shared[: rng.randrange(1, 40)] + random_tokens(rng.randrange(1, 150), seed=n)
            request = make_request(
                f"r{n}", prompt, rng.randrange(0, 90), seed=n, priority=rng.randrange(3)
            )
            core.add_request(request)
            planned[request.request_id] = list(request.output_token_ids)
            live.add(request.request_id)
        if live and rng.random() < 0.03:
            victim = rng.choice(sorted(live))
            assert core.abort_request(victim) is not None
            live.discard(victim)
            planned.pop(victim)
        result = run_steps(core, 1, result)
        live -= {o.request_id for o in result.outputs[-1] if o.finished}
        _check_pool(core, live)
    result = run(core, into=result)
    for request_id, tokens in planned.items():
        assert result.tokens(request_id) == tokens
    _check_pool(core, set())
    assert core.snapshot().kv_cache_usage == 0.0


def _check_pool(core: EngineCore, live: set[str]) -> None:
    pool = core.kv.pool
    free = {b.block_id for b in pool.free_queue}
    holders: dict[int, int] = {}
    for request_id in live:
        for block in core.kv.blocks_of(request_id):
            holders[block.block_id] = holders.get(block.block_id, 0) + 1
    for block in pool.blocks[1:]:
        assert (block.block_id in free) == (block.ref_cnt == 0)
        assert block.ref_cnt == holders.get(block.block_id, 0)
    assert pool.num_cached_blocks == sum(b.block_hash is not None for b in pool.blocks)
    snapshot = core.snapshot()
    assert snapshot.kv_cache_usage == pytest.approx(len(holders) / (pool.num_gpu_blocks - 1))

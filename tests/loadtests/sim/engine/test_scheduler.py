"""Continuous batching, chunked prefill, admission and preemption, through the engine core."""

from __future__ import annotations

import pytest

from loadtests.sim.engine.types import SchedulingPolicy

from .engine_helpers import make_core, make_request, random_tokens, run, run_steps, text_tokens


def test_a_prompt_over_the_budget_is_prefilled_in_chunks() -> None:
    core, _ = make_core(max_num_batched_tokens_override=64)
    core.add_request(make_request("long", text_tokens(200), 3))
    result = run(core)
    assert [s.num_scheduled_tokens for s in result.steps] == [64, 64, 64, 8, 1, 1]
    assert result.step_of_first_token("long") == 3
    assert len(result.steps[3].ttfts) == 1


def test_running_decodes_go_first_and_share_the_budget_with_a_prefill() -> None:
    core, _ = make_core(max_num_batched_tokens_override=64)
    core.add_request(make_request("chat", text_tokens(10), 20))
    result = run_steps(core, 2)
    core.add_request(make_request("long", random_tokens(200, seed=2), 2))
    result = run_steps(core, 4, result)
    assert [s.num_scheduled_tokens for s in result.steps] == [10, 1, 64, 64, 64, 12]  # 1 + 63 each
    assert all("chat" in result.producers(i) for i in range(6))  # never starved
    assert result.step_of_first_token("long") == 5


def test_max_num_seqs_caps_the_running_set() -> None:
    core, _ = make_core(max_num_seqs_override=2)
    for i in range(4):
        core.add_request(make_request(f"r{i}", random_tokens(30, seed=i), 5))
    core.step(0.0)
    assert (core.snapshot().num_running, core.snapshot().num_waiting) == (2, 2)
    result = run(core)
    assert all(len(step) <= 2 for step in result.outputs)
    assert {o.request_id for step in result.outputs for o in step if o.finished} == {
        "r0",
        "r1",
        "r2",
        "r3",
    }


@pytest.mark.parametrize(
    ("policy", "order"),
    [("fcfs", ["a", "b", "c"]), ("priority", ["b", "c", "a"])],
)
def test_waiting_order(policy: SchedulingPolicy, order: list[str]) -> None:
    core, _ = make_core(max_num_seqs_override=1, scheduling_policy=policy)
    for name, priority in (("a", 3), ("b", 1), ("c", 2)):
        core.add_request(make_request(name, text_tokens(20), 3, priority=priority))
    result = run(core)
    finished = [o.request_id for step in result.outputs for o in step if o.finished]
    assert finished == order


def test_head_of_line_blocking() -> None:
    core, _ = make_core(num_gpu_blocks_override=9)  # 8 usable blocks
    core.add_request(make_request("runner", random_tokens(64, seed=1), 10))  # 4 → 5 blocks
    core.add_request(make_request("head", random_tokens(70, seed=2), 2))  # needs 5
    core.add_request(make_request("small", random_tokens(10, seed=3), 2))  # needs 1
    result = run_steps(core, 1)
    assert (core.snapshot().num_running, core.snapshot().num_waiting) == (1, 2)
    result = run(core, start=result.now)
    runner_done = next(
        i
        for i, step in enumerate(result.outputs)
        if any(o.finished for o in step if o.request_id == "runner")
    )
    assert result.step_of_first_token("small") > runner_done
    assert result.step_of_first_token("small") >= result.step_of_first_token("head")


def test_preemption_recomputes_the_latest_admission_and_completes_it() -> None:
    core, _ = make_core(num_gpu_blocks_override=9)
    first = make_request("first", random_tokens(40, seed=1), 60, seed=11)
    second = make_request("second", random_tokens(40, seed=2), 60, seed=12)
    core.add_request(first)
    core.add_request(second)
    result = run(core)

    preempting = [i for i, s in enumerate(result.steps) if s.preemptions]
    assert preempting
    assert core.scheduler.num_preemptions == sum(s.preemptions for s in result.steps)
    # FCFS preempts the most recently admitted request; the first never stalls.
    first_done = next(
        i
        for i, step in enumerate(result.outputs)
        if any(o.finished and o.request_id == "first" for o in step)
    )
    assert all("first" in result.producers(i) for i in range(1, first_done + 1))
    assert not any("second" in result.producers(i) for i in range(preempting[0], first_done + 1))
    # Both complete with exactly their planned tokens.
    for request in (first, second):
        assert result.tokens(request.request_id) == list(request.output_token_ids)
        assert result.final(request.request_id).finish_reason == "length"
    # Prefix stats and prompt tokens count fresh admissions only, not the re-admission.
    assert sum(s.prefix_cache_queries for s in result.steps) == 80
    assert sum(s.prompt_tokens for s in result.steps) == 80
    assert core.snapshot().kv_cache_usage == 0.0


def test_priority_preemption_takes_the_lowest_priority() -> None:
    core, _ = make_core(num_gpu_blocks_override=9, scheduling_policy="priority")
    low = make_request("low", random_tokens(40, seed=1), 60, priority=5)
    high = make_request("high", random_tokens(40, seed=2), 60, priority=0, arrival_time=1.0)
    core.add_request(low)
    result = run_steps(core, 1)
    core.add_request(high)
    result = run(core, into=result)
    preempting = next(i for i, s in enumerate(result.steps) if s.preemptions)
    high_done = next(
        i
        for i, step in enumerate(result.outputs)
        if any(o.finished and o.request_id == "high" for o in step)
    )
    assert not any("low" in result.producers(i) for i in range(preempting, high_done + 1))
    assert result.tokens("low") == list(low.output_token_ids)
    assert result.tokens("high") == list(high.output_token_ids)


def test_a_request_without_outputs_finishes_after_its_prefill() -> None:
    core, _ = make_core(max_num_batched_tokens_override=64)
    core.add_request(make_request("embed-like", text_tokens(100), 0, finish_reason="stop"))
    result = run(core)
    assert len(result.steps) == 2
    final = result.final("embed-like")
    assert (final.new_token_ids, final.finish_reason) == ((), "stop")
    assert result.steps[-1].finished[0].first_token_time is None


@pytest.mark.parametrize(
    ("num_output", "reason", "expected_tokens", "expected_reason"),
    [(10, "stop", 10, "stop"), (14, "stop", 14, "stop"), (30, "stop", 14, "length")],
)
def test_max_model_len_cuts_the_output(
    num_output: int, reason: str, expected_tokens: int, expected_reason: str
) -> None:
    core, _ = make_core(max_model_len=64)
    core.add_request(make_request("r", text_tokens(50), num_output, finish_reason=reason))
    result = run(core)
    assert len(result.tokens("r")) == expected_tokens
    assert result.final("r").finish_reason == expected_reason

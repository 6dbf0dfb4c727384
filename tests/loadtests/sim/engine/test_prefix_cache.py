"""Prefix caching as a router observes it, through the engine core."""

from __future__ import annotations

import pytest

from loadtests.sim.engine.types import KVEventBatch

from .engine_helpers import make_core, make_request, random_tokens, run, text_tokens


@pytest.mark.parametrize(
    ("prompt_len", "hit"),
    [(16, 0), (17, 16), (31, 16), (32, 16), (33, 32), (48, 32), (2048, 2032)],
    ids=lambda v: str(v),
)
def test_hit_is_capped_to_recompute_the_last_token(prompt_len: int, hit: int) -> None:
    core, _ = make_core()
    prompt = text_tokens(prompt_len)
    core.add_request(make_request("cold", prompt, 2))
    first = run(core)
    core.add_request(make_request("warm", prompt, 2))
    second = run(core, start=first.now)
    assert second.final("warm").num_cached_tokens == hit
    assert sum(s.prefix_cache_hits for s in second.steps) == hit
    assert sum(s.prefix_cache_queries for s in second.steps) == prompt_len


def test_null_block_is_not_usable_capacity() -> None:
    core, _ = make_core(num_gpu_blocks_override=9)
    assert core.max_total_tokens == 8 * 16
    core.add_request(make_request("fits", random_tokens(128, seed=1), 0))
    result = run(core)
    assert result.final("fits").finish_reason == "length"
    with pytest.raises(ValueError, match="outside"):
        core.add_request(make_request("too-big", random_tokens(129, seed=1), 0))


def test_full_blocks_of_generated_tokens_are_cached() -> None:
    core, _ = make_core()
    prompt = text_tokens(20)
    request = make_request("chat-1", prompt, 30)
    core.add_request(request)
    first = run(core)
    # 50 known tokens, 49 computed (the last sampled token never is): 3 full blocks.
    follow_up = [*prompt, *request.output_token_ids, *text_tokens(10, seed=7)]
    core.add_request(make_request("chat-2", follow_up, 1))
    second = run(core, start=first.now)
    assert second.final("chat-2").num_cached_tokens == 48


def test_usage_returns_to_zero_while_the_prompt_stays_cached() -> None:
    core, _ = make_core()
    prompt = text_tokens(300)
    core.add_request(make_request("a", prompt, 5))
    core.step(0.0)
    busy = core.snapshot()
    assert busy.kv_cache_usage == pytest.approx(19 / 1999)  # ceil(300 / 16) blocks
    result = run(core)
    idle = core.snapshot()
    assert idle.kv_cache_usage == 0.0
    assert idle.num_running == idle.num_waiting == 0
    assert idle.num_cached_blocks == 19  # 304 computed tokens (the 5th output never is)
    core.add_request(make_request("b", prompt, 1))
    assert run(core, start=result.now).final("b").num_cached_tokens == 288


def test_identical_prompts_in_one_step_share_blocks() -> None:
    # vLLM caches a block when it schedules it, so the second request hits the first's
    # blocks within the same step.
    core, _ = make_core()
    prompt = text_tokens(64)
    core.add_request(make_request("a", prompt, 1))
    core.add_request(make_request("b", prompt, 1))
    step = core.step(0.0)
    assert step.stats.prefix_cache_hits == 48
    assert step.stats.prefix_cache_queries == 128


@pytest.mark.parametrize(
    ("salt_a", "salt_b", "hit"),
    [(None, None, 96), ("t1", "t1", 96), ("t1", "t2", 0), (None, "t1", 0)],
    ids=["no-salt", "same-salt", "other-salt", "salt-vs-none"],
)
def test_cache_salt_isolates_tenants(salt_a: str | None, salt_b: str | None, hit: int) -> None:
    core, _ = make_core()
    prompt = text_tokens(100)
    core.add_request(make_request("a", prompt, 1, cache_salt=salt_a))
    first = run(core)
    core.add_request(make_request("b", prompt, 1, cache_salt=salt_b))
    assert run(core, start=first.now).final("b").num_cached_tokens == hit


def test_caching_disabled_never_hits_nor_publishes() -> None:
    core, batches = make_core(enable_prefix_caching=False)
    prompt = text_tokens(100)
    for name in ("a", "b"):
        core.add_request(make_request(name, prompt, 3))
        result = run(core)
        assert result.final(name).num_cached_tokens == 0
    assert batches == list[KVEventBatch]()
    assert core.snapshot().num_cached_blocks == 0

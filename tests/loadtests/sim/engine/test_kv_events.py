"""The KV event stream a router consumes: well-ordered, consistent, one batch per step."""

from __future__ import annotations

import random

from loadtests.sim.engine.hashing import BlockHasher
from loadtests.sim.engine.types import AllBlocksCleared, BlockRemoved, BlockStored, KVEventBatch

from .engine_helpers import Run, make_core, make_request, random_tokens, run, run_steps, text_tokens


def _busy_workload() -> tuple[list[KVEventBatch], Run]:
    """Shared system prompts, LoRA and salted tenants, on a cache small enough to evict."""
    core, batches = make_core(num_gpu_blocks_override=40, max_num_batched_tokens_override=256)
    rng = random.Random(5)
    systems = [text_tokens(48, seed=s) for s in range(3)]
    result = Run()
    for wave in range(6):
        for i in range(5):
            prompt = rng.choice(systems) + random_tokens(rng.randrange(5, 120), seed=wave * 10 + i)
            kind = i % 3
            core.add_request(
                make_request(
                    f"w{wave}-{i}",
                    prompt,
                    rng.randrange(1, 150),
                    lora_name="adapter" if kind == 1 else None,
                    lora_id=1 if kind == 1 else None,
                    cache_salt="tenant" if kind == 2 else None,
                )
            )
        result = run_steps(core, 15, result)
    result = run(core, into=result)
    assert sum(s.preemptions for s in result.steps) > 0  # the workload does stress the cache
    return batches, result


def test_every_parent_is_announced_before_its_children() -> None:
    batches, _ = _busy_workload()
    announced: set[int] = set()
    for batch in batches:
        for event in batch.events:
            if isinstance(event, BlockStored):
                assert event.parent_block_hash is None or event.parent_block_hash in announced
                announced.update(event.block_hashes)


def test_removals_match_stores_and_hashes_are_unique_per_prefix() -> None:
    batches, _ = _busy_workload()
    live: dict[int, int] = {}  # hash -> cached copies (vLLM does not de-duplicate)
    prefix_of: dict[int, tuple[str | None, tuple[int, ...]]] = {}
    for event in (e for b in batches for e in b.events):
        if isinstance(event, BlockStored):
            assert event.block_size == 16
            assert len(event.token_ids) == 16 * len(event.block_hashes)
            assert (event.lora_id is None) == (event.lora_name is None)
            parent = (
                () if event.parent_block_hash is None else prefix_of[event.parent_block_hash][1]
            )
            for i, block_hash in enumerate(event.block_hashes):
                parent = (*parent, *event.token_ids[16 * i : 16 * (i + 1)])
                key = (event.lora_name, parent)
                assert prefix_of.setdefault(block_hash, key) == key
                live[block_hash] = live.get(block_hash, 0) + 1
        elif isinstance(event, BlockRemoved):
            assert len(event.block_hashes) == 1  # one event per evicted block
            (block_hash,) = event.block_hashes
            assert live.get(block_hash, 0) > 0
            live[block_hash] -= 1
    assert any(isinstance(e, BlockRemoved) for b in batches for e in b.events)


def test_one_batch_per_step_that_changed_the_cache() -> None:
    batches, result = _busy_workload()
    ends = [s.now + s.duration for s in result.steps]
    assert all(batch.events for batch in batches)
    assert len(batches) <= len(result.steps)
    assert {b.timestamp for b in batches} <= set(ends)  # stamped at the end of their step
    assert [b.timestamp for b in batches] == sorted(b.timestamp for b in batches)


def test_published_hashes_are_the_ones_a_router_computes() -> None:
    core, batches = make_core(model_name="my-model")
    prompt = text_tokens(100)
    core.add_request(make_request("r", prompt, 1, cache_salt="s"))
    run(core)
    (event,) = [e for b in batches for e in b.events]
    assert isinstance(event, BlockStored)
    assert event.parent_block_hash is None
    assert list(event.block_hashes) == BlockHasher("my-model", 16).hash_blocks(
        prompt, cache_salt="s"
    )
    assert list(event.token_ids) == prompt[:96]


def test_reset_prefix_cache_publishes_all_blocks_cleared() -> None:
    core, batches = make_core()
    prompt = text_tokens(64)
    core.add_request(make_request("r", prompt, 30))
    core.step(0.0)
    assert not core.reset_prefix_cache()  # refused while blocks are in use
    result = run(core)
    assert core.reset_prefix_cache(now=result.now)
    assert batches[-1] == KVEventBatch(timestamp=result.now, events=[AllBlocksCleared()])
    assert core.snapshot().num_cached_blocks == 0
    core.add_request(make_request("again", prompt, 1))
    assert run(core, start=result.now).final("again").num_cached_tokens == 0

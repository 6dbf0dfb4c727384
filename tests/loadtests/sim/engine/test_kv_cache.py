"""The block pool and free queue, against vLLM v1's BlockPool / FreeKVCacheBlockQueue."""

from __future__ import annotations

import pytest

from loadtests.sim.engine.kv_cache import BlockPool, FreeBlockQueue, KVBlock
from loadtests.sim.engine.types import BlockRemoved, BlockStored

from .engine_helpers import make_core, make_request, random_tokens, run


def ids(blocks: object) -> list[int]:
    return [b.block_id for b in blocks]  # type: ignore[attr-defined]


def test_free_queue_operations_keep_eviction_order() -> None:
    blocks = [KVBlock(i) for i in range(6)]
    queue = FreeBlockQueue(blocks[:4])
    assert ids(queue.popleft_n(2)) == [0, 1]
    queue.append_n([blocks[4], blocks[0]])
    queue.prepend_n([blocks[5], blocks[1]])
    assert ids(queue) == [5, 1, 2, 3, 4, 0]
    queue.remove(blocks[2])
    assert ids(queue) == [5, 1, 3, 4, 0]
    assert len(queue) == 5
    with pytest.raises(ValueError, match="cannot pop"):
        queue.popleft_n(6)


def test_block_zero_is_the_null_block() -> None:
    pool = BlockPool(9, enable_caching=True, enable_events=False)
    assert pool.num_free_blocks == 8
    assert 0 not in ids(pool.free_queue)
    blocks = pool.get_new_blocks(8)
    assert 0 not in ids(blocks)
    assert pool.usage == 1.0
    with pytest.raises(ValueError, match="cannot pop"):
        pool.get_new_blocks(1)
    pool.free_blocks(blocks)
    assert pool.usage == 0.0


def test_free_puts_unhashed_blocks_at_the_head_and_hashed_at_the_tail() -> None:
    pool = BlockPool(9, enable_caching=True, enable_events=False)
    a, b, c, d = pool.get_new_blocks(4)  # ids 1..4; 5..8 stay free
    a.block_hash, b.block_hash = 11, 12
    pool.free_blocks([d, c, b, a])  # a request's tail-first order
    assert ids(pool.free_queue) == [4, 3, 5, 6, 7, 8, 2, 1]


def test_with_caching_disabled_every_freed_block_is_appended() -> None:
    pool = BlockPool(9, enable_caching=False, enable_events=False)
    a, b = pool.get_new_blocks(2)
    pool.free_blocks([b, a])
    assert ids(pool.free_queue) == [3, 4, 5, 6, 7, 8, 2, 1]


def test_touch_takes_a_free_cached_block_out_of_the_queue() -> None:
    pool = BlockPool(9, enable_caching=True, enable_events=False)
    (block,) = pool.get_new_blocks(1)
    block.block_hash = 7
    pool.free_blocks([block])
    pool.touch([block])
    assert block.ref_cnt == 1
    assert block.block_id not in ids(pool.free_queue)
    pool.touch([block])  # shared by a second request: still out of the queue
    pool.free_blocks([block])
    assert block.block_id not in ids(pool.free_queue)
    pool.free_blocks([block])
    assert ids(pool.free_queue)[-1] == block.block_id


def test_eviction_order_on_a_tiny_cache() -> None:
    core, batches = make_core(num_gpu_blocks_override=9)
    pool = core.kv.pool
    a = make_request("a", random_tokens(40, seed=1), 1)  # 2 full blocks + 8 tokens
    core.add_request(a)
    run(core)
    stored = [e for b in batches for e in b.events if isinstance(e, BlockStored)]
    (a_hashes,) = [e.block_hashes for e in stored]
    # Freed tail-first: the partial (unhashed) block 3 to the head, then 2, 1 to the tail.
    assert ids(pool.free_queue) == [3, 4, 5, 6, 7, 8, 2, 1]

    batches.clear()
    core.add_request(make_request("b", random_tokens(100, seed=2), 1))  # needs 7 blocks
    run(core)
    removed = [e for b in batches for e in b.events if isinstance(e, BlockRemoved)]
    # Allocation popped 3..8 (never cached) and then block 2: A's *last* full block.
    assert removed == [BlockRemoved(block_hashes=[a_hashes[1]])]
    assert pool.get_cached_block(a_hashes[0]) is pool.blocks[1]
    assert pool.get_cached_block(a_hashes[1]) is None


def test_cache_hit_pulls_free_blocks_out_of_the_queue() -> None:
    core, _ = make_core(num_gpu_blocks_override=9)
    prompt = random_tokens(40, seed=1)
    core.add_request(make_request("a", prompt, 1))
    run(core)
    core.add_request(make_request("again", prompt, 3))
    core.step(1.0)
    assert ids(core.kv.blocks_of("again")) == [1, 2, 3]  # two hits, one new block
    assert ids(core.kv.pool.free_queue) == [4, 5, 6, 7, 8]


def test_blocks_in_use_are_never_evicted() -> None:
    core, batches = make_core(num_gpu_blocks_override=9)
    core.add_request(make_request("holder", random_tokens(96, seed=1), 20))  # 6 → 8 blocks
    core.add_request(make_request("blocked", random_tokens(40, seed=2), 1))  # needs 3
    for _ in range(8):
        core.step(1.0)
        assert core.snapshot().num_waiting == 1
    holder_blocks = core.kv.blocks_of("holder")
    stored = [
        h for b in batches for e in b.events if isinstance(e, BlockStored) for h in e.block_hashes
    ]
    assert [core.kv.pool.get_cached_block(h) for h in stored] == holder_blocks[: len(stored)]
    assert not [e for b in batches for e in b.events if isinstance(e, BlockRemoved)]
    run(core)
    assert core.snapshot().num_waiting == 0

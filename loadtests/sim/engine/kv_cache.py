"""The paged KV cache with automatic prefix caching, after vLLM v1's `BlockPool` and
`KVCacheManager` (vllm/v1/core/block_pool.py, kv_cache_manager.py, kv_cache_utils.py).

Invariants (as in vLLM):
- block 0 is the null block, never handed out: usable capacity is `num_gpu_blocks - 1`;
- a block is in the free queue iff its `ref_cnt` is 0; a block in use is never evicted;
- a freed block keeps its hash (it stays a cache hit) until it is handed out again, which
  evicts it (one `BlockRemoved` per block);
- the free queue is the eviction order: allocation pops the head; freed blocks without a
  hash go to the head, hashed ones to the tail; a request frees its blocks tail-first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from loadtests.sim.engine.types import AllBlocksCleared, BlockRemoved, BlockStored, KVEvent


class KVBlock:
    """One physical block; mutable, owned by its `BlockPool`."""

    __slots__ = ("block_hash", "block_id", "ref_cnt")

    def __init__(self, block_id: int) -> None:
        self.block_id = block_id
        self.ref_cnt = 0
        self.block_hash: int | None = None

    def __repr__(self) -> str:
        return f"KVBlock({self.block_id}, ref_cnt={self.ref_cnt}, hash={self.block_hash})"


class FreeBlockQueue:
    """vLLM's `FreeKVCacheBlockQueue`: free blocks in eviction order, head first.

    vLLM uses a hand-written doubly linked list for O(1) pop-head, remove-from-middle and
    append; an `OrderedDict` keyed by block id has the same complexities, in C.
    """

    __slots__ = ("_blocks",)

    def __init__(self, blocks: Iterable[KVBlock]) -> None:
        self._blocks: OrderedDict[int, KVBlock] = OrderedDict((b.block_id, b) for b in blocks)

    def __len__(self) -> int:
        return len(self._blocks)

    def __iter__(self) -> Iterator[KVBlock]:
        """Head (next to be evicted) first."""
        return iter(self._blocks.values())

    def popleft_n(self, n: int) -> list[KVBlock]:
        if n > len(self._blocks):
            raise ValueError(f"cannot pop {n} blocks, {len(self._blocks)} free")
        pop = self._blocks.popitem
        return [pop(last=False)[1] for _ in range(n)]

    def remove(self, block: KVBlock) -> None:
        del self._blocks[block.block_id]

    def append_n(self, blocks: Iterable[KVBlock]) -> None:
        for block in blocks:
            self._blocks[block.block_id] = block

    def prepend_n(self, blocks: Sequence[KVBlock]) -> None:
        """Put `blocks` at the head, `blocks[0]` first."""
        for block in reversed(blocks):
            self._blocks[block.block_id] = block
            self._blocks.move_to_end(block.block_id, last=False)


class BlockPool:
    """Blocks, their free queue and the hash → block map; collects the KV events."""

    def __init__(self, num_gpu_blocks: int, *, enable_caching: bool, enable_events: bool) -> None:
        if num_gpu_blocks < 2:
            raise ValueError(f"num_gpu_blocks must be at least 2, got {num_gpu_blocks}")
        self.num_gpu_blocks = num_gpu_blocks
        self.enable_caching = enable_caching
        self.enable_events = enable_events and enable_caching
        self.blocks = [KVBlock(i) for i in range(num_gpu_blocks)]
        self.null_block = self.blocks[0]
        self.free_queue = FreeBlockQueue(self.blocks[1:])
        # vLLM does not de-duplicate: a recomputed block may share its hash with a cached one
        # (block tables are append-only), so a hash maps to one block or to several by id.
        self._cached: dict[int, KVBlock | dict[int, KVBlock]] = {}
        self.num_cached_blocks = 0
        self.events: list[KVEvent] = []

    @property
    def num_free_blocks(self) -> int:
        return len(self.free_queue)

    @property
    def usage(self) -> float:
        """Referenced blocks / usable blocks, in [0, 1]: cached-but-free blocks count as free."""
        usable = self.num_gpu_blocks - 1
        return (usable - len(self.free_queue)) / usable

    def get_cached_block(self, block_hash: int) -> KVBlock | None:
        entry = self._cached.get(block_hash)
        if entry is None or isinstance(entry, KVBlock):
            return entry
        return next(iter(entry.values()))

    def get_new_blocks(self, n: int) -> list[KVBlock]:
        """Pop `n` blocks off the head, evicting the cached ones; each gets `ref_cnt` 1."""
        blocks = self.free_queue.popleft_n(n)
        for block in blocks:
            if block.block_hash is not None:
                self._evict(block)
            block.ref_cnt = 1
        return blocks

    def touch(self, blocks: Iterable[KVBlock]) -> None:
        """Reference cache hits; a free one leaves the free queue (it is no longer evictable)."""
        for block in blocks:
            if block.ref_cnt == 0:
                self.free_queue.remove(block)
            block.ref_cnt += 1

    def free_blocks(self, ordered_blocks: Iterable[KVBlock]) -> None:
        """Dereference blocks given in eviction order (first = evicted first)."""
        with_hash: list[KVBlock] = []
        without_hash: list[KVBlock] = []
        for block in ordered_blocks:
            block.ref_cnt -= 1
            if block.ref_cnt == 0 and block is not self.null_block:
                # vLLM: unhashed blocks can never hit, so they are reused first; with
                # caching disabled everything is appended (reuse recently used memory).
                if block.block_hash is None and self.enable_caching:
                    without_hash.append(block)
                else:
                    with_hash.append(block)
        self.free_queue.prepend_n(without_hash)
        self.free_queue.append_n(with_hash)

    def cache_full_blocks(
        self,
        blocks: Sequence[KVBlock],
        block_hashes: Sequence[int],
        start: int,
        stop: int,
        sequence: CachedSequence,
        block_size: int,
    ) -> None:
        """Give blocks[start:stop] their hashes; announce them in one `BlockStored`."""
        cached = self._cached
        for i in range(start, stop):
            block = blocks[i]
            block_hash = block_hashes[i]
            block.block_hash = block_hash
            entry = cached.get(block_hash)
            if entry is None:
                cached[block_hash] = block
            elif isinstance(entry, KVBlock):
                cached[block_hash] = {entry.block_id: entry, block.block_id: block}
            else:
                entry[block.block_id] = block
        self.num_cached_blocks += stop - start
        if self.enable_events:
            self.events.append(
                BlockStored(
                    block_hashes=list(block_hashes[start:stop]),
                    parent_block_hash=block_hashes[start - 1] if start else None,
                    token_ids=list(sequence.all_token_ids[start * block_size : stop * block_size]),
                    block_size=block_size,
                    lora_id=sequence.lora_id,
                    lora_name=sequence.lora_name,
                )
            )

    def _evict(self, block: KVBlock) -> None:
        block_hash = block.block_hash
        assert block_hash is not None
        entry = self._cached.get(block_hash)
        if entry is block:
            del self._cached[block_hash]
        elif isinstance(entry, dict):
            entry.pop(block.block_id, None)
            if len(entry) == 1:
                self._cached[block_hash] = next(iter(entry.values()))
        block.block_hash = None
        self.num_cached_blocks -= 1
        if self.enable_events:
            self.events.append(BlockRemoved(block_hashes=[block_hash]))

    def reset(self) -> bool:
        """Forget every hash (vLLM's `reset_prefix_cache`); refused while a block is in use."""
        if len(self.free_queue) != self.num_gpu_blocks - 1:
            return False
        self._cached.clear()
        for block in self.blocks:
            block.block_hash = None
        self.num_cached_blocks = 0
        if self.enable_events:
            self.events.append(AllBlocksCleared())
        return True

    def take_events(self) -> list[KVEvent]:
        events, self.events = self.events, []
        return events


class CachedSequence(Protocol):
    """What the cache manager reads from a request."""

    @property
    def request_id(self) -> str: ...
    @property
    def all_token_ids(self) -> Sequence[int]: ...  # prompt then outputs; ≥ num_tokens long
    @property
    def num_tokens(self) -> int: ...  # tokens known so far (prompt + sampled)
    @property
    def num_computed_tokens(self) -> int: ...  # tokens whose KV is in the cache
    @property
    def block_hashes(self) -> Sequence[int]: ...  # of every full block of the known tokens
    @property
    def lora_id(self) -> int | None: ...
    @property
    def lora_name(self) -> str | None: ...


class KVCacheManager:
    """Blocks per request on top of a `BlockPool` (one KV cache group, full attention)."""

    def __init__(
        self,
        num_gpu_blocks: int,
        block_size: int,
        *,
        enable_caching: bool = True,
        enable_events: bool = False,
    ) -> None:
        self.block_size = block_size
        self.enable_caching = enable_caching
        self.pool = BlockPool(
            num_gpu_blocks, enable_caching=enable_caching, enable_events=enable_events
        )
        self._req_blocks: dict[str, list[KVBlock]] = {}
        self._num_cached: dict[str, int] = {}  # leading blocks of a request already hashed

    @property
    def num_free_blocks(self) -> int:
        return len(self.pool.free_queue)

    @property
    def usage(self) -> float:
        return self.pool.usage

    def blocks_of(self, request_id: str) -> Sequence[KVBlock]:
        return self._req_blocks.get(request_id, ())

    def find_cached_prefix(self, seq: CachedSequence) -> list[KVBlock]:
        """The longest chain of cached blocks that prefixes `seq`.

        Capped at (num_tokens - 1) // block_size blocks: vLLM always recomputes the last
        token to get its logits, and hits are whole blocks.
        """
        if not self.enable_caching:
            return []
        max_blocks = min((seq.num_tokens - 1) // self.block_size, len(seq.block_hashes))
        get = self.pool.get_cached_block
        hits: list[KVBlock] = []
        for block_hash in seq.block_hashes[:max_blocks]:
            block = get(block_hash)
            if block is None:
                break
            hits.append(block)
        return hits

    def blocks_needed(self, seq: CachedSequence, num_tokens: int, hits: Sequence[KVBlock]) -> int:
        """Free blocks that holding `num_tokens` tokens of `seq` (after `hits`) would take.

        Hits that sit in the free queue count too: referencing them takes them out
        (vLLM's `get_num_blocks_to_allocate`).
        """
        held = len(self._req_blocks.get(seq.request_id, ())) + len(hits)
        new = max(0, -(-num_tokens // self.block_size) - held)
        return new + sum(1 for block in hits if block.ref_cnt == 0)

    def allocate_slots(
        self, seq: CachedSequence, num_new_tokens: int, hits: Sequence[KVBlock] = ()
    ) -> bool:
        """Make room for `num_new_tokens` more tokens after the computed ones and `hits`.

        Returns False, changing nothing, if the free queue is too short. Blocks that become
        full of known tokens are hashed and cached right away, as vLLM does when it
        schedules them (so a request admitted later in the same step can hit them).
        """
        size = self.block_size
        num_tokens = seq.num_computed_tokens + len(hits) * size + num_new_tokens
        blocks = self._req_blocks.get(seq.request_id)
        num_new_blocks = -(-num_tokens // size) - (len(blocks) if blocks else 0) - len(hits)
        if (hits or num_new_blocks > 0) and self.blocks_needed(seq, num_tokens, hits) > len(
            self.pool.free_queue
        ):
            return False
        if blocks is None:
            blocks = self._req_blocks[seq.request_id] = []
            self._num_cached[seq.request_id] = len(hits)
        if hits:
            self.pool.touch(hits)
            blocks.extend(hits)
        if num_new_blocks > 0:
            blocks.extend(self.pool.get_new_blocks(num_new_blocks))
        if self.enable_caching:
            self._cache_full_blocks(seq, blocks, min(num_tokens, seq.num_tokens) // size)
        return True

    def append_slots(self, seq: CachedSequence, num_new_tokens: int) -> bool:
        """`allocate_slots` for a running request (no new hits): the per-step hot path."""
        size = self.block_size
        num_tokens = seq.num_computed_tokens + num_new_tokens
        blocks = self._req_blocks[seq.request_id]
        num_new_blocks = (num_tokens + size - 1) // size - len(blocks)
        if num_new_blocks > 0:
            if num_new_blocks > len(self.pool.free_queue):
                return False
            blocks.extend(self.pool.get_new_blocks(num_new_blocks))
        if self.enable_caching:
            num_full = min(num_tokens, seq.num_tokens) // size
            if num_full > self._num_cached[seq.request_id]:
                self._cache_full_blocks(seq, blocks, num_full)
        return True

    def _cache_full_blocks(self, seq: CachedSequence, blocks: list[KVBlock], num_full: int) -> None:
        start = self._num_cached[seq.request_id]
        if num_full > start:
            self.pool.cache_full_blocks(
                blocks, seq.block_hashes, start, num_full, seq, self.block_size
            )
            self._num_cached[seq.request_id] = num_full

    def free(self, request_id: str) -> None:
        """Release a request's blocks tail-first, so its last blocks are evicted first."""
        blocks = self._req_blocks.pop(request_id, None)
        self._num_cached.pop(request_id, None)
        if blocks:
            self.pool.free_blocks(reversed(blocks))

    def reset_prefix_cache(self) -> bool:
        return self.pool.reset()

    def take_events(self) -> list[KVEvent]:
        return self.pool.take_events()

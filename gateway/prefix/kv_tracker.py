"""One engine's KV events applied to the prefix index, under the gateway's own hashes.

The engine's block hashes depend on its hash function and seed (random per process for
non-cryptographic hashes), so the gateway never uses them as index keys. It re-hashes each
stored block's token ids with `gateway.prefix.hashing` and keeps, per endpoint, a bounded
map engine hash → gateway hash: a `BlockStored` whose parent is P continues the gateway
chain from map[P] (from the model/LoRA seed when P is None), and a `BlockRemoved` looks its
hashes up to know what to remove.

Limitations, by construction:
- vLLM events carry no `cache_salt`. Engines that send `extra_keys` (recent vLLM) mark
  salted or multimodal blocks, and those are skipped (counted as unhashable); older
  engines don't, so a salted prompt's blocks are recorded as if unsalted: salted requests
  never match from events (their gateway seed includes the salt) and unsalted requests
  may be sent to an engine that holds only the salted copy.
- A block whose parent the gateway never saw (it subscribed late, missed messages, or the
  map evicted the parent) cannot be re-hashed: its tokens alone don't give the prefix.
  Such blocks are skipped and counted until their chain is stored again from the root.
- Events of other tiers (`medium` other than GPU, e.g. CPU offload) are ignored.
- One tracker per publisher: a data-parallel engine publishes one stream per rank.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.prefix.hashing import DEFAULT_BLOCK_SIZE, continue_chain, prefix_seed
from gateway.prefix.interfaces import PrefixIndex
from gateway.prefix.kv_wire import (
    AllBlocksCleared,
    BlockRemoved,
    BlockStored,
    EngineHash,
    EventBatch,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_TRACKED_BLOCKS = 65_536
_MAX_SEEDS = 1024


@dataclass
class KVEventStats:
    """Monotonic counters of one engine's event stream (read by the metrics module)."""

    batches: int = 0
    stored_blocks: int = 0
    removed_blocks: int = 0
    clears: int = 0
    gaps: int = 0
    malformed_messages: int = 0
    unknown_events: int = 0
    unknown_parent_blocks: int = 0
    unknown_lora_blocks: int = 0
    unhashable_blocks: int = 0
    untracked_removals: int = 0
    block_size_mismatches: int = 0
    other_medium_events: int = 0


@dataclass(slots=True)
class _Block:
    gateway_hash: int
    parent: EngineHash | None
    refreshed_at: float


class KVEventTracker:
    """Applies an endpoint's event batches, in order, to a `PrefixIndex`.

    `model` is the base model the engine serves (the seed the gateway uses for its
    requests); `block_size` must equal the engine's `--block-size`. `lora_names` maps
    vLLM's integer LoRA ids to adapter names for engines that send only `lora_id`.
    At most `max_tracked_blocks` engine hashes are remembered (~150 bytes each; size it
    near the engine's `num_gpu_blocks`). Storing a block also re-records its ancestors
    when they were last refreshed over `refresh_interval_s` ago, so a prefix that stays
    cached on the engine (and is never stored again) does not age out of the index.
    Not thread-safe; one coroutine applies batches at a time.
    """

    def __init__(
        self,
        endpoint: str,
        index: PrefixIndex,
        *,
        model: str,
        block_size: int = DEFAULT_BLOCK_SIZE,
        max_tracked_blocks: int = DEFAULT_MAX_TRACKED_BLOCKS,
        refresh_interval_s: float = 30.0,
        lora_names: Mapping[int, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_tracked_blocks < 1:
            raise ValueError("max_tracked_blocks must be ≥ 1")
        self.endpoint = endpoint
        self.stats = KVEventStats()
        self._index = index
        self._model = model
        self._block_size = block_size
        self._max_tracked = max_tracked_blocks
        self._refresh_s = refresh_interval_s
        self._lora_names = lora_names or {}
        self._clock = clock
        self._blocks: OrderedDict[EngineHash, _Block] = OrderedDict()
        self._seeds: dict[str | None, int] = {}
        self._last_seq: int | None = None

    @property
    def tracked_blocks(self) -> int:
        return len(self._blocks)

    async def apply(self, batch: EventBatch) -> None:
        """Apply one batch; index writes are grouped into one call per run of same-kind
        events, in event order."""
        await self._sequence(batch.seq)
        self.stats.batches += 1
        self.stats.unknown_events += batch.unknown_events
        pending: list[int] = []
        pending_removal = False
        for event in batch.events:
            if isinstance(event, AllBlocksCleared):
                await self._flush(pending, pending_removal)
                pending = []
                await self._clear()
                continue
            removal = isinstance(event, BlockRemoved)
            if removal != pending_removal:
                await self._flush(pending, pending_removal)
                pending, pending_removal = [], removal
            if isinstance(event, BlockRemoved):
                pending.extend(self._removed(event))
            else:
                pending.extend(self._stored(event))
        await self._flush(pending, pending_removal)

    async def skip(self, seq: int) -> None:
        """Account for message `seq` without applying it (it could not be decoded)."""
        await self._sequence(seq)

    async def _sequence(self, seq: int) -> None:
        if self._last_seq is not None and seq != self._last_seq + 1:
            await self._on_gap(seq)
        self._last_seq = seq

    async def _on_gap(self, seq: int) -> None:
        # Messages were lost (slow consumer past the ZMQ high-water mark, reconnect) or the
        # publisher restarted (seq went back; a new engine process has an empty cache). The
        # endpoint's real cache is now unknown: the index may list blocks whose
        # BlockRemoved we missed, and our map may translate nothing correctly. Routing on
        # blocks an engine no longer holds sends it long prompts to recompute while
        # believing they are cached, so start again from a state known to be a subset of
        # the truth: empty. New BlockStored events and the gateway's approximate records
        # refill it.
        self.stats.gaps += 1
        logger.warning(
            "kv events: sequence gap on %s (expected %d, got %d); clearing its blocks",
            self.endpoint,
            (self._last_seq or 0) + 1,
            seq,
        )
        await self._clear()

    async def _clear(self) -> None:
        self.stats.clears += 1
        self._blocks.clear()
        await self._index.clear(self.endpoint)

    async def _flush(self, hashes: list[int], removal: bool) -> None:
        if not hashes:
            return
        if removal:
            await self._index.remove(self.endpoint, self._model, hashes)
        else:
            await self._index.record(self.endpoint, self._model, hashes)

    def _stored(self, event: BlockStored) -> list[int]:
        count = len(event.block_hashes)
        if event.medium is not None and event.medium.upper() != "GPU":
            self.stats.other_medium_events += 1
            return []
        if event.block_size != self._block_size:
            self.stats.block_size_mismatches += 1
            return []
        now = self._clock()
        if event.parent_block_hash is None:
            seed = self._seed(event)
            if seed is None:
                self.stats.unknown_lora_blocks += count
                return []
            start, ancestors = seed, []
        else:
            parent = self._blocks.get(event.parent_block_hash)
            if parent is None:
                self.stats.unknown_parent_blocks += count
                return []
            self._blocks.move_to_end(event.parent_block_hash)
            start = parent.gateway_hash
            ancestors = self._stale_ancestors(event.parent_block_hash, now)
        usable = self._hashable_blocks(event)
        self.stats.unhashable_blocks += count - usable
        tokens = event.token_ids
        if usable < count:
            tokens = tokens[: usable * self._block_size]
        hashes = continue_chain(start, tokens, block_size=self._block_size)
        previous = event.parent_block_hash
        for engine_hash, gateway_hash in zip(event.block_hashes, hashes, strict=False):
            self._remember(engine_hash, _Block(gateway_hash, previous, now))
            previous = engine_hash
        self.stats.stored_blocks += usable
        return ancestors + hashes

    def _removed(self, event: BlockRemoved) -> list[int]:
        if event.medium is not None and event.medium.upper() != "GPU":
            self.stats.other_medium_events += 1
            return []
        hashes: list[int] = []
        for engine_hash in event.block_hashes:
            block = self._blocks.pop(engine_hash, None)
            if block is None:
                self.stats.untracked_removals += 1
            else:
                hashes.append(block.gateway_hash)
        self.stats.removed_blocks += len(hashes)
        return hashes

    def _stale_ancestors(self, key: EngineHash, now: float) -> list[int]:
        """Gateway hashes of block `key` and its ancestors not refreshed lately, root first.

        A refresh covers the whole chain up to the root (or up to an ancestor refreshed
        recently, whose own walk covered the rest), so the walk stops at the first fresh
        block: in steady state (decode appends one block at a time) it is one step.
        """
        stale: list[int] = []
        current: EngineHash | None = key
        while current is not None:
            block = self._blocks.get(current)
            if block is None or block.refreshed_at >= now - self._refresh_s:
                break
            block.refreshed_at = now
            self._blocks.move_to_end(current)
            stale.append(block.gateway_hash)
            current = block.parent
        stale.reverse()
        return stale

    def _remember(self, engine_hash: EngineHash, block: _Block) -> None:
        self._blocks[engine_hash] = block
        self._blocks.move_to_end(engine_hash)
        if len(self._blocks) > self._max_tracked:
            self._blocks.popitem(last=False)

    def _hashable_blocks(self, event: BlockStored) -> int:
        """How many leading blocks depend on nothing but tokens, model and LoRA."""
        if event.extra_keys is None:
            return len(event.block_hashes)
        for position, keys in enumerate(event.extra_keys[: len(event.block_hashes)]):
            if keys is None:
                continue
            if not isinstance(keys, list) or any(key != event.lora_name for key in keys):
                return position
        return len(event.block_hashes)

    def _seed(self, event: BlockStored) -> int | None:
        lora = event.lora_name
        if lora is None and event.lora_id is not None:
            lora = self._lora_names.get(event.lora_id)
            if lora is None:
                return None
        seed = self._seeds.get(lora)
        if seed is None:
            if len(self._seeds) >= _MAX_SEEDS:
                self._seeds.clear()
            seed = self._seeds[lora] = prefix_seed(self._model, lora)
        return seed

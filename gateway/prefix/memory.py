"""The embedded prefix index: a bounded LRU of blocks per endpoint, in process.

Two structures hold the same (endpoint, model, hash) entries:
- per endpoint and model, an LRU ordered by last record (`OrderedDict` hash → time,
  oldest first) of at most `capacity` entries;
- per model, an inverted map hash → endpoints holding it: `match` walks the request's
  hashes once and stops at the first block no remaining endpoint holds, so it costs
  O(matched blocks × endpoints holding them), never O(index).
Every entry leaves both structures together, so the total size is at most
`capacity × endpoints × models`; the gateway calls `clear` when an endpoint leaves the
pool. (An engine serves one base model, its LoRA adapters included, so in practice the
bound is `capacity` per endpoint; the Redis index bounds the same way.) An
entry costs ~250 bytes (a full 100k-block endpoint ~25 MB): size `capacity` near twice the
engines' `num_gpu_blocks` (≈28k on an H100 serving an 8B model).
Holder sets are tuples (few endpoints hold a given block), which the garbage collector
stops tracking, so a large index adds no GC pauses.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from itertools import islice

from gateway.prefix.interfaces import IndexStats, PrefixIndex

DEFAULT_CAPACITY = 100_000

_Lru = OrderedDict[int, float]  # block hash → last record time, oldest first


class MemoryPrefixIndex(PrefixIndex):
    """Bounded in-process `PrefixIndex`; no I/O, so every method completes without yielding.

    `capacity` is the number of blocks kept per endpoint and model; recording beyond it
    drops that endpoint's least recently recorded blocks of the model. With `ttl_s`, a block
    not recorded for `ttl_s` seconds no longer matches and is dropped (when its endpoint
    records or is matched). `clock` returns seconds (monotonic); tests may pass their own.
    Not thread-safe: use it from the event loop only.
    """

    def __init__(
        self,
        *,
        capacity: int = DEFAULT_CAPACITY,
        ttl_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be ≥ 1, got {capacity}")
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        self._capacity = capacity
        self._ttl_s = ttl_s
        self._clock = clock
        self._lrus: dict[str, dict[str, _Lru]] = {}  # endpoint → model → LRU
        self._holders: dict[str, dict[int, tuple[str, ...]]] = {}  # model → hash → endpoints
        self._evictions = 0
        self._expirations = 0

    async def match(self, model: str, hashes: Sequence[int]) -> dict[str, int]:
        table = self._holders.get(model)
        if not table or not hashes or hashes[0] not in table:
            return {}
        if self._ttl_s is not None:
            # Expired entries sit at the front of their LRU: dropping them first leaves
            # the walk below with no timestamps to compare.
            for endpoint in table[hashes[0]]:
                self._expire(endpoint, model, self._clock() - self._ttl_s)
            if hashes[0] not in table:
                return {}
        return _walk(table, hashes)

    async def record(self, endpoint: str, model: str, hashes: Sequence[int]) -> None:
        if not hashes:
            return
        now = self._clock()
        models = self._lrus.setdefault(endpoint, {})
        lru = models.get(model)
        if lru is None:
            lru = models[model] = OrderedDict()
        table = self._holders.setdefault(model, {})
        # Tail first, so the chain's root is the most recent entry and evicted last.
        for block in reversed(hashes):
            if block in lru:
                lru.move_to_end(block)
            lru[block] = now
            holders = table.get(block)
            if holders is None:
                table[block] = (endpoint,)
            elif endpoint not in holders:
                table[block] = (*holders, endpoint)
        if self._ttl_s is not None:
            self._expire(endpoint, model, now - self._ttl_s)
        if len(lru) > self._capacity:
            evicted = [lru.popitem(last=False)[0] for _ in range(len(lru) - self._capacity)]
            self._evictions += len(evicted)
            self._drop_holders(endpoint, model, evicted)

    async def remove(self, endpoint: str, model: str, hashes: Sequence[int]) -> None:
        lru = self._lrus.get(endpoint, {}).get(model)
        if lru is None:
            return
        self._drop_holders(endpoint, model, [b for b in hashes if lru.pop(b, None) is not None])
        self._forget_if_empty(endpoint, model)

    async def clear(self, endpoint: str) -> None:
        for model, lru in self._lrus.pop(endpoint, {}).items():
            self._drop_holders(endpoint, model, lru)

    def stale(
        self, endpoint: str, model: str, hashes: Sequence[int], max_age_s: float
    ) -> list[int]:
        """The hashes `endpoint` has not recorded in the last `max_age_s` seconds, in order.

        Lets a remote index skip rewriting blocks this process refreshed recently.
        """
        lru = self._lrus.get(endpoint, {}).get(model)
        if lru is None:
            return list(hashes)
        cutoff = self._clock() - max_age_s
        return [block for block in hashes if lru.get(block, -math.inf) < cutoff]

    def stats(self) -> IndexStats:
        return IndexStats(
            entries=sum(len(lru) for models in self._lrus.values() for lru in models.values()),
            endpoints=len(self._lrus),
            evictions=self._evictions,
            expirations=self._expirations,
        )

    async def close(self) -> None:
        self._lrus.clear()
        self._holders.clear()

    def _expire(self, endpoint: str, model: str, cutoff: float) -> None:
        lru = self._lrus.get(endpoint, {}).get(model)
        if not lru or next(iter(lru.values())) >= cutoff:
            return
        expired = []
        while lru and next(iter(lru.values())) < cutoff:
            expired.append(lru.popitem(last=False)[0])
        self._expirations += len(expired)
        self._drop_holders(endpoint, model, expired)
        self._forget_if_empty(endpoint, model)

    def _forget_if_empty(self, endpoint: str, model: str) -> None:
        """Drop the LRU of `model` if it emptied, and the endpoint if it has none left."""
        models = self._lrus[endpoint]
        if not models[model]:
            del models[model]
        if not models:
            del self._lrus[endpoint]

    def _drop_holders(self, endpoint: str, model: str, blocks: Iterable[int]) -> None:
        table = self._holders[model]
        alone = (endpoint,)
        for block in blocks:
            holders = table[block]
            if holders == alone:
                del table[block]
            else:
                table[block] = tuple(e for e in holders if e != endpoint)
        if not table:
            del self._holders[model]


def _walk(table: dict[int, tuple[str, ...]], hashes: Sequence[int]) -> dict[str, int]:
    """Leading blocks of `hashes` held, per endpoint holding `hashes[0]`."""
    alive = set(table[hashes[0]])
    counts: dict[str, int] = {}
    depth = 1
    while len(alive) > 1 and depth < len(hashes):
        holders = table.get(hashes[depth])
        if holders is None:
            break
        if not alive.issubset(holders):
            for endpoint in alive.difference(holders):
                counts[endpoint] = depth
            alive.intersection_update(holders)
        depth += 1
    if len(alive) == 1:  # the common case once chains diverge: one membership test per block
        (only,) = alive
        for holders in map(table.get, islice(hashes, depth, None)):
            if holders is None or only not in holders:
                break
            depth += 1
    for endpoint in alive:
        counts[endpoint] = depth
    return counts

"""What an engine last reported about its load, and the table of those reports.

Written by the metrics scraper, read by snapshots, scorers and the saturation detector. All
times are seconds on the scraper's clock (`time.monotonic` unless the lifespan passes
another); a reader compares `scraped_at` with `now` from that same clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.types import EndpointId


@dataclass(frozen=True, slots=True)
class LoraState:
    """`vllm:lora_requests_info`: adapters with running and waiting requests, and the cap."""

    running: frozenset[str] = frozenset()
    waiting: frozenset[str] = frozenset()
    max_loras: int | None = None

    @property
    def active(self) -> frozenset[str]:
        """Adapters the engine has loaded for current work (running or waiting)."""
        return self.running | self.waiting


@dataclass(frozen=True, slots=True)
class EngineLoad:
    """One successful scrape of an engine's `/metrics`, summed over its model names.

    `num_waiting` and `num_running` count requests; `kv_usage` is the KV-cache fraction in
    [0, 1] (the largest over data-parallel ranks); `block_size` and `num_gpu_blocks` come
    from `vllm:cache_config_info`; the prefix counters are cumulative token counts since the
    engine started (they drop to zero when it restarts). `None` means the engine does not
    export that series.
    """

    scraped_at: float
    num_waiting: int
    num_running: int
    kv_usage: float | None = None
    block_size: int | None = None
    num_gpu_blocks: int | None = None
    lora: LoraState | None = None
    prefix_cache_queries: float | None = None
    prefix_cache_hits: float | None = None

    def age(self, now: float) -> float:
        return now - self.scraped_at

    def is_stale(self, now: float, max_age: float) -> bool:
        """Whether this report is older than `max_age` seconds at `now`."""
        return now - self.scraped_at > max_age

    def prefix_cache_delta(self, earlier: EngineLoad | None) -> tuple[float, float] | None:
        """Prefix-cache (queried, hit) tokens since `earlier`, for a gateway-side counter.

        A counter that went down means the engine restarted: everything counted since then
        is new. `None` when this engine does not export the counters.
        """
        queries, hits = self.prefix_cache_queries, self.prefix_cache_hits
        if queries is None or hits is None:
            return None
        if earlier is None or earlier.prefix_cache_queries is None:
            return None  # no baseline: the engine's lifetime totals are not "since" anything
        old_queries, old_hits = earlier.prefix_cache_queries, earlier.prefix_cache_hits or 0.0
        if queries < old_queries or hits < old_hits:
            return queries, hits
        return queries - old_queries, hits - old_hits


class EngineLoadStore:
    """The latest `EngineLoad` per endpoint.

    Owned by the lifespan; only the scraper writes. Synchronous and used on the event loop
    thread only, so readers never see a half-written entry and need no lock.
    """

    def __init__(self) -> None:
        self._loads: dict[EndpointId, EngineLoad] = {}

    def get(self, endpoint_id: EndpointId) -> EngineLoad | None:
        return self._loads.get(endpoint_id)

    def put(self, endpoint_id: EndpointId, load: EngineLoad) -> None:
        self._loads[endpoint_id] = load

    def remove(self, endpoint_id: EndpointId) -> None:
        self._loads.pop(endpoint_id, None)

    def endpoint_ids(self) -> frozenset[EndpointId]:
        return frozenset(self._loads)

    def __len__(self) -> int:
        return len(self._loads)

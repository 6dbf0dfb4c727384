"""Whether an engine has room for more work: the Gateway API Inference Extension's detector.

An engine with fresh metrics is saturated when its waiting queue is longer than
`queue_threshold` or its KV cache is fuller than `kv_threshold` (both strictly above, as in
GIE; defaults 5 and 0.8 are GIE's too).

Stale or missing metrics: GIE counts an engine whose metrics are stale as having no
capacity. kvgate does not by default (`stale_is_saturated=False`), because admission
queues requests when every candidate is saturated: a scraper fault that affects every
engine at once (metrics port blocked by a network policy, `/metrics` behind auth, the
scraper starved of CPU) would then hold back all traffic although every engine is
serving. An engine that is really gone is caught elsewhere: it fails its `/v1/models`
health check and the director marks it unready on the first refused connection. What
stays fresh regardless is the gateway's own in-flight count, so `max_in_flight`, when set,
saturates an engine whatever its metrics say. Set `stale_is_saturated=True` for GIE's rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.discovery.engine_load import EngineLoad

DEFAULT_QUEUE_THRESHOLD = 5
DEFAULT_KV_THRESHOLD = 0.8


@dataclass(frozen=True, slots=True)
class SaturationDetector:
    """Pure and immutable; `now` and `EngineLoad.scraped_at` come from the same clock.

    `stale_after` is in seconds (the scraper's `stale_after`: three intervals, at least
    one second); `max_in_flight` caps the gateway's own requests per engine (None: no cap).
    """

    queue_threshold: int = DEFAULT_QUEUE_THRESHOLD
    kv_threshold: float = DEFAULT_KV_THRESHOLD
    stale_after: float = 1.0
    max_in_flight: int | None = None
    stale_is_saturated: bool = False

    def __post_init__(self) -> None:
        if self.queue_threshold < 0:
            raise ValueError("queue_threshold must be ≥ 0")
        if not 0 <= self.kv_threshold <= 1:
            raise ValueError("kv_threshold must be in [0, 1]")
        if self.stale_after <= 0:
            raise ValueError("stale_after must be > 0")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ValueError("max_in_flight must be ≥ 1")

    def is_fresh(self, load: EngineLoad | None, now: float) -> bool:
        return load is not None and not load.is_stale(now, self.stale_after)

    def is_saturated(self, load: EngineLoad | None, in_flight: int, now: float) -> bool:
        """Whether the engine should get no new work while another has room."""
        if self.max_in_flight is not None and in_flight >= self.max_in_flight:
            return True
        if load is None or load.is_stale(now, self.stale_after):
            return self.stale_is_saturated
        if load.num_waiting > self.queue_threshold:
            return True
        return load.kv_usage is not None and load.kv_usage > self.kv_threshold

    def all_saturated(self, engines: Iterable[tuple[EngineLoad | None, int]], now: float) -> bool:
        """GIE's pool verdict over (load, in-flight) pairs: True when none has room, and
        for an empty pool (there is no capacity to serve from)."""
        return all(self.is_saturated(load, in_flight, now) for load, in_flight in engines)

"""What the metrics scraper reports, turned into gateway metrics and restart notices."""

from __future__ import annotations

from collections.abc import Callable

from gateway.discovery.engine_load import EngineLoad
from gateway.discovery.metrics_scraper import ScrapeObserver
from gateway.observability.metrics import GatewayMetrics
from gateway.types import EndpointId


class ScrapeRecorder(ScrapeObserver):
    """Counts the engines' own prefix-cache hits, scrape failures, and calls `on_restart`
    when an engine's cumulative counters went down (a new engine process: its cache is
    empty, whatever the prefix index remembers)."""

    def __init__(self, metrics: GatewayMetrics, on_restart: Callable[[EndpointId], None]) -> None:
        self._metrics = metrics
        self._on_restart = on_restart

    def scraped(
        self, endpoint_id: EndpointId, previous: EngineLoad | None, load: EngineLoad
    ) -> None:
        delta = load.prefix_cache_delta(previous)
        if delta is not None:
            self._metrics.record_engine_prefix_cache(endpoint_id, queries=delta[0], hits=delta[1])
        if previous is not None and _restarted(previous, load):
            self._on_restart(endpoint_id)

    def scrape_failed(self, endpoint_id: EndpointId, reason: str) -> None:
        self._metrics.record_scrape_failure(endpoint_id, reason)


def _restarted(previous: EngineLoad, load: EngineLoad) -> bool:
    before, now = previous.prefix_cache_queries, load.prefix_cache_queries
    return before is not None and now is not None and now < before

from __future__ import annotations

import pytest

from gateway.discovery.engine_load import EngineLoad
from gateway.observability.engine_scrapes import ScrapeRecorder
from gateway.observability.metrics import GatewayMetrics
from gateway.prefix.interfaces import IndexStats
from gateway.prefix.kv_tracker import KVEventStats
from tests.gateway.integration.helpers import metric_sum


def _load(queries: float, hits: float) -> EngineLoad:
    return EngineLoad(0.0, 0, 0, prefix_cache_queries=queries, prefix_cache_hits=hits)


@pytest.mark.parametrize(
    ("previous", "load", "queries", "hits", "restarted"),
    [
        pytest.param(None, _load(100, 50), 0, 0, False, id="first-scrape-has-no-baseline"),
        pytest.param(_load(100, 50), _load(160, 80), 60, 30, False, id="delta"),
        pytest.param(_load(100, 50), _load(20, 5), 20, 5, True, id="restart"),
    ],
)
def test_scrapes_count_engine_cache_hits_and_notice_restarts(
    previous: EngineLoad | None, load: EngineLoad, queries: float, hits: float, restarted: bool
) -> None:
    metrics = GatewayMetrics()
    restarts: list[str] = []
    ScrapeRecorder(metrics, restarts.append).scraped("e", previous, load)
    text = metrics.render().decode()
    assert metric_sum(text, "kvgate_engine_prefix_cache_tokens_total", kind="queries") == queries
    assert metric_sum(text, "kvgate_engine_prefix_cache_tokens_total", kind="hits") == hits
    assert restarts == (["e"] if restarted else [])


def test_index_and_kv_event_collectors_read_at_scrape_time() -> None:
    metrics = GatewayMetrics()
    stats = [IndexStats(entries=5, endpoints=1)]
    events = {"e": KVEventStats(batches=3, stored_blocks=7, removed_blocks=2)}
    metrics.watch_prefix_index(lambda: stats[-1])
    metrics.watch_kv_events(lambda: events)
    stats.append(IndexStats(entries=9, endpoints=2, remote_errors=4, fallback_matches=3))
    text = metrics.render().decode()
    assert metric_sum(text, "kvgate_prefix_index_entries") == 9
    assert metric_sum(text, "kvgate_prefix_index_redis_errors_total") == 4
    assert metric_sum(text, "kvgate_prefix_index_redis_fallbacks_total") == 3
    assert metric_sum(text, "kvgate_kv_event_blocks_total", engine="e", kind="removed") == 2

"""Kubernetes discovery's health, as `/metrics` exports it."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.discovery.kubernetes_health import DiscoveryHealth, SourceCounters, SourceHealth
from gateway.observability.metrics import GatewayMetrics


def _source(pool: str, *, listed: bool, contact: float | None) -> SourceHealth:
    counters = SourceCounters(
        lists=2,
        relists=1,
        events=Counter({"ADDED": 3, "BOOKMARK": 5}),
        errors=Counter({"unavailable": 4}),
        listed=listed,
        watching=listed,
        last_contact=contact,
    )
    return SourceHealth.of(pool, counters, "7" if listed else None, 1, now=100.0)


HEALTH = DiscoveryHealth(
    sources=(
        _source("vllm", listed=True, contact=97.5),
        _source("tier=online", listed=False, contact=None),
    ),
    endpoints={"serving": 2, "terminating": 1, "not_ready": 0},
    stale_after_s=180.0,
)


@pytest.mark.parametrize(
    ("name", "labels", "value"),
    [
        pytest.param("kvgate_discovery_synced", {"pool": "vllm"}, 1, id="synced"),
        pytest.param("kvgate_discovery_synced", {"pool": "tier=online"}, 0, id="not-synced"),
        pytest.param("kvgate_discovery_watching", {"pool": "vllm"}, 1, id="watching"),
        pytest.param(
            "kvgate_discovery_last_sync_age_seconds", {"pool": "vllm"}, 2.5, id="sync-age"
        ),
        pytest.param(
            "kvgate_discovery_last_sync_age_seconds",
            {"pool": "tier=online"},
            None,
            id="no-age-before-any-answer",
        ),
        pytest.param("kvgate_discovery_relists_total", {"pool": "vllm"}, 1, id="relists"),
        pytest.param(
            "kvgate_discovery_watch_events_total",
            {"pool": "vllm", "type": "BOOKMARK"},
            5,
            id="events",
        ),
        pytest.param(
            "kvgate_discovery_errors_total",
            {"pool": "vllm", "kind": "unavailable"},
            4,
            id="errors",
        ),
        pytest.param("kvgate_discovery_engines", {"state": "terminating"}, 1, id="engines"),
        pytest.param("kvgate_discovery_engines", {"state": "not_ready"}, 0, id="engines-zero"),
    ],
)
def test_discovery_health_is_exported(
    name: str, labels: dict[str, str], value: float | None
) -> None:
    metrics = GatewayMetrics()
    metrics.watch_discovery(lambda: HEALTH)
    assert metrics.registry.get_sample_value(name, labels) == value
    assert name.encode() in metrics.render() or value is None

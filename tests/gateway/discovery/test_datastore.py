from __future__ import annotations

import pytest

from gateway.discovery.datastore import EndpointDatastore
from gateway.discovery.endpoint import Endpoint, ModelCard
from gateway.discovery.engine_load import EngineLoad, EngineLoadStore, LoraState
from gateway.observability.metrics import GatewayMetrics
from gateway.routing.saturation import SaturationDetector


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _store(clock: Clock) -> tuple[EndpointDatastore, EngineLoadStore]:
    loads = EngineLoadStore()
    detector = SaturationDetector(queue_threshold=5, kv_threshold=0.8, stale_after=1.0)
    datastore = EndpointDatastore(GatewayMetrics(), loads, detector, clock)
    datastore.replace_endpoints([Endpoint("a", "http://a"), Endpoint("b", "http://b")])
    cards = [ModelCard("base", None, {}), ModelCard("ad", "base", {})]
    datastore.update_models("a", cards)
    return datastore, loads


@pytest.mark.parametrize(
    ("load", "age", "waiting", "saturated"),
    [
        pytest.param(EngineLoad(100.0, 2, 3, 0.5), 0.5, 2, False, id="fresh"),
        pytest.param(EngineLoad(100.0, 6, 3, 0.5), 0.5, 6, True, id="fresh-queue-over"),
        pytest.param(EngineLoad(100.0, 0, 3, 0.9), 0.5, 0, True, id="fresh-kv-over"),
        pytest.param(EngineLoad(100.0, 6, 3, 0.9), 5.0, None, False, id="stale-is-unknown"),
        pytest.param(None, 0.0, None, False, id="never-scraped"),
    ],
)
def test_snapshot_reads_fresh_loads_only(
    load: EngineLoad | None, age: float, waiting: int | None, saturated: bool
) -> None:
    clock = Clock()
    datastore, loads = _store(clock)
    if load is not None:
        loads.put("a", load)
    clock.now += age
    snap = datastore.snapshot().by_id("a")
    assert snap is not None
    assert (snap.num_waiting, snap.saturated) == (waiting, saturated)


def test_snapshot_counts_leases_at_once_and_carries_adapters() -> None:
    clock = Clock()
    datastore, loads = _store(clock)
    loads.put("a", EngineLoad(100.0, 0, 1, 0.1, lora=LoraState(frozenset({"ad"}), max_loras=4)))
    lease = datastore.lease("a")
    snap = datastore.snapshot().by_id("a")
    assert snap is not None
    assert (snap.in_flight, snap.load, snap.adapters) == (1, 1, frozenset({"ad"}))
    assert (snap.active_adapters, snap.max_loras) == (frozenset({"ad"}), 4)
    lease.release()
    lease.release()
    after = datastore.snapshot().by_id("a")
    assert after is not None
    assert after.in_flight == 0


def test_models_answers() -> None:
    datastore, _ = _store(Clock())
    assert datastore.base_model("ad") == "base"
    assert datastore.base_model("base") is None
    assert datastore.served_base_model("a") == "base"
    assert datastore.served_base_model("b") is None
    assert datastore.engine_url("ad") == "http://a"
    assert datastore.engine_url("nope") is None


def test_recent_requests_decay_with_the_window() -> None:
    clock = Clock()
    loads = EngineLoadStore()
    datastore = EndpointDatastore(GatewayMetrics(), loads, clock=clock, share_window_s=10.0)
    datastore.replace_endpoints([Endpoint("a", "http://a")])
    for _ in range(4):
        datastore.lease("a").release()
    snap = datastore.snapshot().by_id("a")
    assert snap is not None
    assert snap.recent_requests == pytest.approx(4.0)
    clock.now += 10.0
    later = datastore.snapshot().by_id("a")
    assert later is not None
    assert later.recent_requests == pytest.approx(4.0 / 2.718281828)

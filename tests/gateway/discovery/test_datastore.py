from __future__ import annotations

import pytest

from gateway.discovery.datastore import EndpointDatastore, EndpointLease
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


# -- draining ------------------------------------------------------------------------------

MODEL_CARDS = [ModelCard("base", None, {})]


class Pool:
    """A datastore driven by short steps: `set a b` (the routable set), `answer a` (its
    `/v1/models` answered), `lease a`, `release a` (the oldest lease on `a`). An id written
    `a@2` is engine `a` at a second URL."""

    def __init__(self) -> None:
        self.removed: list[str] = []
        self.metrics = GatewayMetrics()
        self.datastore = EndpointDatastore(self.metrics, on_removed=self.removed.append)
        self.leases: dict[str, list[EndpointLease]] = {}

    def run(self, steps: str) -> None:
        for step in steps.split(";"):
            verb, *args = step.split()
            if verb == "set":
                self.datastore.replace_endpoints(_endpoint(arg) for arg in args)
            elif verb == "answer":
                self.datastore.update_models(args[0], MODEL_CARDS)
            elif verb == "lease":
                self.leases.setdefault(args[0], []).append(self.datastore.lease(args[0]))
            elif verb == "release":
                self.leases[args[0]].pop(0).release()
            else:
                raise ValueError(step)

    def routable(self) -> set[str]:
        return {endpoint.id for endpoint in self.datastore.endpoints()}

    def candidates(self) -> set[str]:
        return {snap.id for snap in self.datastore.snapshot().candidates("base")}

    def in_flight_gauge(self, engine: str) -> float | None:
        return self.metrics.registry.get_sample_value(
            "kvgate_engine_in_flight_requests", {"engine": engine}
        )


def _endpoint(spec: str) -> Endpoint:
    endpoint_id, _, version = spec.partition("@")
    return Endpoint(endpoint_id, f"http://{endpoint_id}{version and ':' + version}")


@pytest.mark.parametrize(
    ("steps", "routable", "candidates", "draining", "removed"),
    [
        pytest.param("set a b; answer a; answer b", {"a", "b"}, {"a", "b"}, {}, [], id="serving"),
        pytest.param("set a b; answer a; set b", {"b"}, set(), {}, ["a"], id="idle-leaves-at-once"),
        pytest.param(
            "set a b; answer a; answer b; lease a; lease a; set b",
            {"b"},
            {"b"},
            {"a": 2},
            [],
            id="busy-drains",
        ),
        pytest.param(
            "set a b; answer a; answer b; lease a; lease a; set b; release a",
            {"b"},
            {"b"},
            {"a": 1},
            [],
            id="drains-request-by-request",
        ),
        pytest.param(
            "set a b; answer a; lease a; lease a; set b; release a; release a",
            {"b"},
            set(),
            {},
            ["a"],
            id="dropped-after-the-last-request",
        ),
        pytest.param(
            "set a; answer a; lease a; set; answer a",
            set(),
            set(),
            {"a": 1},
            [],
            id="a-late-refresh-does-not-revive-it",
        ),
        pytest.param(
            "set a; answer a; lease a; set; set a",
            {"a"},
            set(),
            {},
            [],
            id="back-while-draining-waits-for-an-answer",
        ),
        pytest.param(
            "set a; answer a; lease a; set; set a; answer a; release a",
            {"a"},
            {"a"},
            {},
            [],
            id="back-while-draining-then-answers",
        ),
        pytest.param(
            "set a; answer a; lease a; set a@2",
            {"a"},
            set(),
            {},
            [],
            id="moved-starts-over",
        ),
        pytest.param(
            "set a; answer a; lease a; set a@2; release a; answer a",
            {"a"},
            {"a"},
            {},
            [],
            id="moved-keeps-its-in-flight-count",
        ),
    ],
)
def test_draining(
    steps: str,
    routable: set[str],
    candidates: set[str],
    draining: dict[str, int],
    removed: list[str],
) -> None:
    pool = Pool()
    pool.run(steps)
    assert pool.routable() == routable
    assert pool.candidates() == candidates
    assert pool.datastore.draining() == draining
    assert pool.removed == removed
    assert pool.datastore.snapshot().ready_count() == len(candidates)


def test_a_draining_engine_counts_down_to_zero_then_leaves_the_pool() -> None:
    pool = Pool()
    pool.run("set a b; answer a; answer b; lease a; lease a; set b")
    assert pool.in_flight_gauge("a") == 2
    assert pool.datastore.snapshot().by_id("a") is None
    assert [card.id for card in pool.datastore.model_cards()] == ["base"]
    pool.run("release a")
    assert pool.in_flight_gauge("a") == 1
    pool.run("release a")
    assert pool.in_flight_gauge("a") == 0
    assert pool.removed == ["a"]
    assert pool.metrics.registry.get_sample_value("kvgate_engine_ready", {"engine": "a"}) == 0
    pool.run("set a b")  # the same address again: a new engine, not ready until it answers
    assert pool.candidates() == {"b"}


def test_a_moved_engine_is_reached_at_its_new_url() -> None:
    pool = Pool()
    pool.run("set a; answer a; lease a; set a@2")
    moved = pool.datastore.snapshot().by_id("a")
    assert moved is not None
    assert (moved.ready, moved.in_flight) == (False, 1)  # its old request still runs
    pool.run("answer a")
    (endpoint,) = pool.datastore.endpoints()
    assert endpoint.url == "http://a:2"
    assert pool.datastore.engine_url("base") == "http://a:2"


def test_new_labels_at_the_same_url_keep_the_engine_ready() -> None:
    pool = Pool()
    pool.datastore.replace_endpoints([Endpoint("a", "http://a", {"zone": "1"})])
    pool.run("answer a")
    pool.datastore.replace_endpoints([Endpoint("a", "http://a", {"zone": "2"})])
    assert pool.candidates() == {"a"}
    assert pool.datastore.endpoints()[0].labels == {"zone": "2"}

"""Kubernetes discovery end to end: the real client library against a loopback API server."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import httpx
import pytest

from gateway.discovery.datastore import EndpointDatastore
from gateway.discovery.kubernetes import DatastoreSink, KubernetesDiscovery
from gateway.discovery.kubernetes_config import (
    ClusterAccess,
    KubernetesDiscoveryConfig,
    PoolSource,
    WatchTiming,
    parse_selector_flag,
    parse_service_flag,
)
from gateway.discovery.kubernetes_slices import DiscoveredEndpoint
from gateway.discovery.model_refresh import ModelRefresher
from gateway.observability.metrics import GatewayMetrics
from tests.gateway.discovery.k8s_apiserver import FakeApiServer, Pod, endpoint_slice, go_bool

SERVING, TERMINATING, NOT_READY = "serving", "terminating", "not_ready"

FAST = WatchTiming(
    connect_timeout_s=1.0,
    list_timeout_s=2.0,
    watch_timeout_s=3,
    idle_timeout_s=1.5,
    backoff_initial_s=0.05,
    backoff_max_s=0.4,
    stale_after_s=1.0,
    page_size=50,
)


class RecordingSink:
    def __init__(self) -> None:
        self.published: list[tuple[DiscoveredEndpoint, ...]] = []

    def publish(self, endpoints: Sequence[DiscoveredEndpoint]) -> None:
        self.published.append(tuple(endpoints))

    def states(self) -> dict[str, str]:
        latest = self.published[-1] if self.published else ()
        return {found.id: found.state.value for found in latest}


async def eventually(check: Callable[[], bool], what: str, within_s: float = 15.0) -> None:
    """Poll `check` until it holds; fail with `what` after `within_s` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        if loop.time() > deadline:
            pytest.fail(f"not within {within_s}s: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def apiserver() -> AsyncIterator[FakeApiServer]:
    server = FakeApiServer(bookmark_interval_s=0.2)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def kubeconfig(apiserver: FakeApiServer, tmp_path: Path) -> Path:
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")


def discovery_for(
    kubeconfig: Path, *sources: PoolSource, timing: WatchTiming = FAST
) -> KubernetesDiscovery:
    config = KubernetesDiscoveryConfig(
        sources=sources or (parse_service_flag("vllm", namespace="default"),),
        access=ClusterAccess(kubeconfig=kubeconfig),
        timing=timing,
    )
    return KubernetesDiscovery(config, rng=random.Random(7))


@contextlib.asynccontextmanager
async def running(
    discovery: KubernetesDiscovery, sink: RecordingSink | DatastoreSink
) -> AsyncIterator[KubernetesDiscovery]:
    await discovery.start(sink)
    try:
        yield discovery
    finally:
        await discovery.stop()


def one_slice(server: FakeApiServer, *pods: Pod, name: str = "vllm-a") -> None:
    server.put(endpoint_slice(name, "vllm", list(pods)))


A, B = "10.0.0.1:8000", "10.0.0.2:8000"

LIFECYCLE = [
    ("added-not-ready", [Pod("10.0.0.1", ready=False, serving=False)], {A: NOT_READY}, set()),
    ("becomes-ready", [Pod("10.0.0.1")], {A: SERVING}, {A}),
    ("second-added", [Pod("10.0.0.1"), Pod("10.0.0.2")], {A: SERVING, B: SERVING}, {A, B}),
    (
        "first-terminating",
        [Pod("10.0.0.1", ready=False, serving=True, terminating=True), Pod("10.0.0.2")],
        {A: TERMINATING, B: SERVING},
        {B},
    ),
    ("first-removed", [Pod("10.0.0.2")], {B: SERVING}, {B}),
    ("all-removed", [], {}, set()),
]


async def test_pod_lifecycle_reaches_the_datastore(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    datastore = EndpointDatastore(GatewayMetrics())
    discovery = discovery_for(kubeconfig)
    lease = None
    async with running(discovery, DatastoreSink(datastore)):
        assert await discovery.wait_synced(10)
        for step, pods, states, routable in LIFECYCLE:
            one_slice(apiserver, *pods)

            def reflected(states: dict[str, str] = states, routable: set[str] = routable) -> bool:
                seen = {found.id: found.state.value for found in discovery.endpoints()}
                return seen == states and {e.id for e in datastore.endpoints()} == routable

            await eventually(reflected, step)
            if step == "second-added":
                # A request starts on the engine that is about to terminate.
                lease = datastore.lease(A)
        assert lease is not None
        assert datastore.draining() == {A: 1}, "kept, out of routing, while its request runs"
        lease.release()  # its stream finished after the engine left: now it is dropped
        assert datastore.draining() == {}
        assert datastore.endpoints() == []


async def test_a_ready_pod_gets_requests_once_it_answers(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    """Through the model refresher, as the lifespan wires it: routing candidates follow."""

    def engine(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "data": [{"id": "llama"}]})

    datastore = EndpointDatastore(GatewayMetrics())
    async with httpx.AsyncClient(transport=httpx.MockTransport(engine)) as client:
        refresher = ModelRefresher(datastore, client, interval_s=0.05, timeout_s=1.0)
        refresh = asyncio.create_task(refresher.run())
        try:
            async with running(discovery_for(kubeconfig), DatastoreSink(datastore)):
                for pods, expected in [
                    ([Pod("10.0.0.1", ready=False, serving=False)], set()),
                    ([Pod("10.0.0.1")], {A}),
                    ([Pod("10.0.0.1", terminating=True), Pod("10.0.0.2")], {B}),
                ]:
                    one_slice(apiserver, *pods)
                    await eventually(
                        lambda expected=expected: (
                            {snap.id for snap in datastore.snapshot().candidates("llama")}
                            == expected
                        ),
                        f"candidates {expected}",
                    )
        finally:
            refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresh


async def test_a_dropped_watch_resumes_from_the_last_version(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    sink = RecordingSink()
    async with running(discovery_for(kubeconfig), sink) as discovery:
        one_slice(apiserver, Pod("10.0.0.1"))
        await eventually(lambda: sink.states() == {A: SERVING}, "first pod")
        seen = apiserver.resource_version
        watches = len(apiserver.watch_requests())
        apiserver.drop_connections()
        await eventually(lambda: len(apiserver.watch_requests()) > watches, "a new watch")
        one_slice(apiserver, Pod("10.0.0.1"), Pod("10.0.0.2"))
        await eventually(lambda: sink.states() == {A: SERVING, B: SERVING}, "second pod")
        resumed = apiserver.watch_requests()[watches]
        assert int(resumed.params["resourceVersion"]) >= seen
        assert go_bool(resumed.params["allowWatchBookmarks"])
        assert len(apiserver.list_requests()) == 1, "a resumed watch needs no relist"
        assert discovery.health().sources[0].relists == 0


async def test_bookmarks_spare_a_relist_when_history_moves_on(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    """Changes to other Services move the resourceVersion past what this watch sees;
    bookmarks carry it forward, so after compaction the watch still resumes."""
    sink = RecordingSink()
    async with running(discovery_for(kubeconfig), sink) as discovery:
        one_slice(apiserver, Pod("10.0.0.1"))
        await eventually(lambda: sink.states() == {A: SERVING}, "first pod")
        for i in range(20):
            apiserver.put(endpoint_slice("other", "other-service", [Pod(f"10.9.0.{i}")]))
        target = apiserver.resource_version
        health = discovery.health
        await eventually(
            lambda: int(health().sources[0].resource_version or 0) >= target,
            "a bookmark carries the version past the other Service's changes",
        )
        assert health().sources[0].events.get("BOOKMARK", 0) > 0
        apiserver.compact()
        apiserver.drop_connections()
        one_slice(apiserver, Pod("10.0.0.2"))
        await eventually(lambda: sink.states() == {B: SERVING}, "change after compaction")
        assert len(apiserver.list_requests()) == 1
        assert discovery.health().sources[0].relists == 0


@pytest.mark.parametrize("as_status", [False, True], ids=["error-event", "http-410"])
async def test_an_api_server_restart_that_lost_history_forces_a_relist(
    apiserver: FakeApiServer, kubeconfig: Path, as_status: bool
) -> None:
    apiserver.faults.gone_status = as_status
    sink = RecordingSink()
    one_slice(apiserver, Pod("10.0.0.1"), name="vllm-a")
    one_slice(apiserver, Pod("10.0.0.2"), name="vllm-b")
    async with running(discovery_for(kubeconfig), sink) as discovery:
        await eventually(lambda: sink.states() == {A: SERVING, B: SERVING}, "initial list")
        await apiserver.stop()
        # While the server is down, the cluster changes: B goes away, C arrives.
        apiserver.delete("vllm-b")
        one_slice(apiserver, Pod("10.0.0.3"), name="vllm-c")
        await apiserver.restart(lose_history=True)
        await eventually(
            lambda: sink.states() == {A: SERVING, "10.0.0.3:8000": SERVING},
            "relisted state",
        )
        assert discovery.health().sources[0].relists >= 1
        assert len(apiserver.list_requests()) >= 2


async def test_an_outage_keeps_the_last_known_engines(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    datastore = EndpointDatastore(GatewayMetrics())
    discovery = discovery_for(kubeconfig)
    one_slice(apiserver, Pod("10.0.0.1"), Pod("10.0.0.2"))
    async with running(discovery, DatastoreSink(datastore)):
        await eventually(lambda: len(datastore.endpoints()) == 2, "initial engines")
        assert discovery.healthy()
        await apiserver.stop()
        await eventually(lambda: not discovery.healthy(), "outage reported")
        health = discovery.health()
        assert health.synced
        assert health.sources[0].errors.get("unavailable", 0) >= 1
        assert {e.id for e in datastore.endpoints()} == {A, B}
        assert health.as_dict()["healthy"] is False
        await apiserver.restart(lose_history=False)
        one_slice(apiserver, Pod("10.0.0.2"))
        await eventually(
            lambda: {e.id for e in datastore.endpoints()} == {B}, "change after the outage"
        )
        await eventually(discovery.healthy, "healthy again")


async def test_each_outage_is_logged_once(
    apiserver: FakeApiServer, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good, apiserver.token = apiserver.token, "rotated"
    async with running(discovery_for(kubeconfig), RecordingSink()) as discovery:
        health = discovery.health
        await eventually(lambda: health().sources[0].errors.get("rejected", 0) >= 3, "refused")
        apiserver.token = good
        assert await discovery.wait_synced(10)
        await apiserver.stop()
        await eventually(
            lambda: health().sources[0].errors.get("unavailable", 0) >= 3, "outage seen"
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert [message.split(":")[1].strip() for message in warnings] == [
        "Kubernetes API rejected",
        "Kubernetes API unavailable",
    ]


@pytest.mark.parametrize(
    ("fragment_bytes", "chunk_delay_s"),
    [(1, 0.0), (7, 0.002), (64, 0.01)],
    ids=["one-byte-chunks", "small-slow-chunks", "slow-link"],
)
async def test_events_split_across_chunks_are_reassembled(
    apiserver: FakeApiServer, kubeconfig: Path, fragment_bytes: int, chunk_delay_s: float
) -> None:
    sink = RecordingSink()
    async with running(discovery_for(kubeconfig), sink) as discovery:
        assert await discovery.wait_synced(10)
        apiserver.faults.fragment_bytes = fragment_bytes
        apiserver.faults.chunk_delay_s = chunk_delay_s
        one_slice(apiserver, Pod("10.0.0.1", ready=False, serving=False))
        await eventually(lambda: sink.states() == {A: NOT_READY}, "not ready")
        one_slice(apiserver, Pod("10.0.0.1"))
        await eventually(lambda: sink.states() == {A: SERVING}, "ready")
        assert discovery.health().sources[0].errors == {}


async def test_a_connection_dropped_mid_event_is_retried(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    sink = RecordingSink()
    async with running(discovery_for(kubeconfig), sink) as discovery:
        assert await discovery.wait_synced(10)
        apiserver.faults.drop_after_events = 0
        one_slice(apiserver, Pod("10.0.0.1"))
        health = discovery.health
        await eventually(
            lambda: health().sources[0].errors.get("unavailable", 0) >= 2, "drops seen"
        )
        assert sink.states() == {}, "half an event is no event"
        apiserver.faults.drop_after_events = None
        await eventually(lambda: sink.states() == {A: SERVING}, "delivered after the fault")


async def test_a_stalled_watch_is_abandoned_after_the_idle_timeout(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    sink = RecordingSink()
    async with running(discovery_for(kubeconfig), sink) as discovery:
        assert await discovery.wait_synced(10)
        apiserver.faults.stall_watches = True
        one_slice(apiserver, Pod("10.0.0.1"))
        health = discovery.health
        await eventually(
            lambda: health().sources[0].errors.get("unavailable", 0) >= 1, "idle timeout"
        )
        assert sink.states() == {}
        # The next watch resumes from the last version and replays the change.
        apiserver.faults.stall_watches = False
        await eventually(lambda: sink.states() == {A: SERVING}, "change after the stall")
        assert len(apiserver.list_requests()) == 1


async def test_long_lists_are_read_page_by_page(apiserver: FakeApiServer, kubeconfig: Path) -> None:
    for i in range(7):
        one_slice(apiserver, Pod(f"10.0.1.{i}"), name=f"vllm-{i}")
    apiserver.faults.expire_continues = 1
    sink = RecordingSink()
    timing = WatchTiming(**{**_fields(FAST), "page_size": 2})
    async with running(discovery_for(kubeconfig, timing=timing), sink) as discovery:
        assert await discovery.wait_synced(10)
        assert len(sink.states()) == 7
        continued = [r for r in apiserver.list_requests() if "continue" in r.params]
        assert len(continued) >= 3
        assert discovery.health().sources[0].errors.get("expired") == 1


async def test_rejected_credentials_are_retried_until_fixed(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    good = apiserver.token
    apiserver.token = "rotated"
    one_slice(apiserver, Pod("10.0.0.1"))
    sink = RecordingSink()
    async with running(discovery_for(kubeconfig), sink) as discovery:
        assert not await discovery.wait_synced(0.5)
        health = discovery.health()
        assert not health.synced
        assert not health.healthy
        assert health.sources[0].errors.get("rejected", 0) >= 1
        apiserver.token = good
        assert await discovery.wait_synced(10)
        assert sink.states() == {A: SERVING}


async def test_pools_by_service_and_by_label_selector(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    apiserver.put(endpoint_slice("a-1", "a", [Pod("10.0.0.1")]))
    apiserver.put(endpoint_slice("b-1", "b", [Pod("10.0.0.2")], labels={"tier": "online"}))
    apiserver.put(endpoint_slice("c-1", "c", [Pod("10.0.0.3")], labels={"tier": "online"}))
    apiserver.put(endpoint_slice("d-1", "d", [Pod("10.0.0.4")], labels={"tier": "batch"}))
    apiserver.put(endpoint_slice("x-1", "a", [Pod("10.0.0.5")], namespace="elsewhere"))
    sink = RecordingSink()
    discovery = discovery_for(
        kubeconfig,
        parse_service_flag("a", namespace="default"),
        parse_selector_flag("tier=online", namespace="default"),
    )
    async with running(discovery, sink):
        await eventually(
            lambda: set(sink.states()) == {A, B, "10.0.0.3:8000"}, "three engines, two pools"
        )
        pools = {found.id: found.endpoint.labels["pool"] for found in discovery.endpoints()}
        assert pools == {A: "a", B: "tier=online", "10.0.0.3:8000": "tier=online"}
        # Relabelling a Service moves its slices out of the selector: seen as a deletion.
        apiserver.put(endpoint_slice("c-1", "c", [Pod("10.0.0.3")], labels={"tier": "batch"}))
        await eventually(lambda: set(sink.states()) == {A, B}, "relabelled slice leaves")


async def test_the_discovery_protocol_runs_until_cancelled(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    one_slice(apiserver, Pod("10.0.0.1"))
    datastore = EndpointDatastore(GatewayMetrics())
    discovery = discovery_for(kubeconfig)
    task = asyncio.create_task(discovery.run(datastore))
    await eventually(lambda: [e.id for e in datastore.endpoints()] == [A], "engine")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_health_before_the_first_list(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    await apiserver.stop()
    discovery = discovery_for(kubeconfig)
    async with running(discovery, RecordingSink()):
        assert not await discovery.wait_synced(0.3)
        summary = discovery.health().as_dict()
        assert summary["synced"] is False
        assert summary["last_sync_age_s"] is None
        await apiserver.start()
        assert await discovery.wait_synced(10)


def _fields(timing: WatchTiming) -> dict[str, float]:
    return {name: getattr(timing, name) for name in timing.__slots__}

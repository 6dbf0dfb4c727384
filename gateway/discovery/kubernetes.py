"""Engines from Kubernetes EndpointSlices: list + watch per pool, merged, fed to routing.

Each pool (a Service, or the Services matching a label selector) has a reflector that keeps
its slices current (see `kubernetes_reflector`). After every change the pools' engines are
merged and, when the result differs, published to a `DiscoverySink`.

Routing state per engine (see `kubernetes_slices.endpoint_state`):
- serving     → in the datastore's endpoint set (it becomes ready when `/v1/models` answers);
- terminating → out of the set: no new requests; the datastore keeps it draining while
                requests run there (they finish, its in-flight count goes down to 0), then
                drops it and its prefix-index entries;
- not ready   → out of the set, draining likewise.

An API server outage changes nothing: the last known engines keep routing and the model
refresher keeps health-checking them, while `health()` reports the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from kubernetes_asyncio.client import Configuration

from gateway.discovery.datastore import EndpointDatastore
from gateway.discovery.interfaces import Discovery
from gateway.discovery.kubernetes_api import cluster_api, load_configuration
from gateway.discovery.kubernetes_config import KubernetesDiscoveryConfig
from gateway.discovery.kubernetes_health import DiscoveryHealth
from gateway.discovery.kubernetes_reflector import Clock, SliceReflector
from gateway.discovery.kubernetes_slices import (
    DiscoveredEndpoint,
    EndpointState,
    discovered_endpoints,
    merge_into,
)
from gateway.types import EndpointId

logger = logging.getLogger(__name__)


class DiscoverySink(Protocol):
    def publish(self, endpoints: Sequence[DiscoveredEndpoint]) -> None:
        """Adopt the complete current engine set, every state included. Synchronous, on
        the event loop thread."""
        ...


class DatastoreSink(DiscoverySink):
    """Feeds an `EndpointDatastore`: serving engines are its endpoint set; every other
    state leaves the set, and the datastore drains an engine that leaves with requests
    still running there (see `gateway.discovery.datastore`)."""

    def __init__(self, datastore: EndpointDatastore) -> None:
        self._datastore = datastore

    def publish(self, endpoints: Sequence[DiscoveredEndpoint]) -> None:
        self._datastore.replace_endpoints(
            found.endpoint for found in endpoints if found.state is EndpointState.SERVING
        )


class KubernetesDiscovery(Discovery):
    """Owns one background task (`start`/`stop`), or runs inside the caller's (`run`)."""

    def __init__(
        self,
        config: KubernetesDiscoveryConfig,
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        rng = rng or random.Random()
        self._reflectors = tuple(
            SliceReflector(source, config.timing, self._changed, clock=clock, rng=rng)
            for source in config.sources
        )
        self._sink: DiscoverySink | None = None
        self._published: tuple[DiscoveredEndpoint, ...] = ()
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run(self, datastore: EndpointDatastore) -> None:
        """The `Discovery` protocol: feed `datastore` until cancelled."""
        await self.run_into(DatastoreSink(datastore))

    async def run_into(self, sink: DiscoverySink) -> None:
        """Load cluster access (raises `ClusterAccessError`), then watch until cancelled."""
        await self._serve(await load_configuration(self._config.access), sink)

    async def start(self, sink: DiscoverySink) -> None:
        """Load cluster access now, so a bad kubeconfig fails startup, then watch in a task."""
        if self._task is not None:
            raise RuntimeError("Kubernetes discovery is already running")
        configuration = await load_configuration(self._config.access)
        self._task = asyncio.create_task(
            self._serve(configuration, sink), name="kvgate-k8s-discovery"
        )
        self._task.add_done_callback(_log_death)

    async def stop(self) -> None:
        """Cancel the task and wait for it (watches closed, connections released)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_synced(self, timeout_s: float) -> bool:
        """Whether every pool was listed within `timeout_s` seconds."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._synced.wait()
        except TimeoutError:
            return False
        return True

    def healthy(self) -> bool:
        return self.health().healthy

    def synced(self) -> bool:
        """Every pool has been listed once (cheaper than `health().synced`)."""
        return self._synced.is_set()

    def health(self) -> DiscoveryHealth:
        states = Counter(found.state.value for found in self._published)
        return DiscoveryHealth(
            sources=tuple(reflector.health() for reflector in self._reflectors),
            endpoints={state.value: states[state.value] for state in EndpointState},
            stale_after_s=self._config.timing.stale_after_s,
        )

    def endpoints(self) -> tuple[DiscoveredEndpoint, ...]:
        """The engine set last published, every state included."""
        return self._published

    async def _serve(self, configuration: Configuration, sink: DiscoverySink) -> None:
        self._sink = sink
        async with (
            cluster_api(configuration, self._config.timing) as api,
            asyncio.TaskGroup() as group,
        ):
            for reflector in self._reflectors:
                group.create_task(reflector.run(api), name=f"kvgate-k8s-{reflector.source.name}")

    def _changed(self) -> None:
        merged: dict[EndpointId, DiscoveredEndpoint] = {}
        for reflector in self._reflectors:
            source = reflector.source
            for found in discovered_endpoints(
                reflector.slices(), source.ports, source.name
            ).values():
                merge_into(merged, found)
        current = tuple(merged.values())
        if all(reflector.counters.listed for reflector in self._reflectors):
            self._synced.set()
        if current == self._published:
            return
        self._published = current
        logger.info(
            "kubernetes discovery: %d engines (%s)",
            len(current),
            ", ".join(f"{state}={count}" for state, count in self.health().endpoints.items()),
        )
        if self._sink is not None:
            self._sink.publish(current)


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("kubernetes discovery stopped", exc_info=task.exception())

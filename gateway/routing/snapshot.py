"""Immutable views of the engine pool that scheduling runs over."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.discovery.endpoint import Endpoint
from gateway.types import EndpointId


@dataclass(frozen=True, slots=True)
class EndpointSnapshot:
    """An engine's state at the moment a request is scheduled.

    `in_flight` is the gateway's own count of requests it has sent there and not finished
    (exact, updated synchronously as requests start and end); `recent_requests` the
    gateway's count of requests sent there, exponentially decayed over about a minute (the
    engine's recent share of the traffic, which instantaneous counts only sample).
    `models` holds served model names and LoRA adapter names; `adapters` the adapter names
    alone. Engine gauges (`num_waiting`, `num_running`, `kv_usage` in [0, 1],
    `active_adapters`, `max_loras`) come from the metrics scraper and are `None` (or empty)
    while unknown: never scraped, or the last report is too old to trust. `saturated` is
    the saturation detector's verdict at snapshot time; `ejected` marks an engine taken out
    of rotation by health checks.
    """

    endpoint: Endpoint
    models: frozenset[str]
    ready: bool
    in_flight: int
    num_waiting: int | None = None
    num_running: int | None = None
    kv_usage: float | None = None
    adapters: frozenset[str] = frozenset()
    active_adapters: frozenset[str] = frozenset()
    max_loras: int | None = None
    recent_requests: float = 0.0
    ejected: bool = False
    saturated: bool = False

    @property
    def id(self) -> EndpointId:
        return self.endpoint.id

    @property
    def load(self) -> int:
        """Requests the engine is running or queueing, as best known now.

        The larger of the gateway's own in-flight count (exact and current, so a burst is
        seen before the next scrape) and the engine's last report (which also counts other
        gateway replicas' requests).
        """
        reported = (self.num_waiting or 0) + (self.num_running or 0)
        return max(self.in_flight, reported)

    def serves(self, model: str) -> bool:
        return model in self.models


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    """Every known engine, ready or not."""

    endpoints: tuple[EndpointSnapshot, ...]

    def candidates(
        self, model: str, exclude: frozenset[EndpointId] = frozenset()
    ) -> list[EndpointSnapshot]:
        """Ready engines serving `model`, minus `exclude` (engines already tried)."""
        return [
            snap
            for snap in self.endpoints
            if snap.ready and not snap.ejected and snap.id not in exclude and model in snap.models
        ]

    def knows(self, model: str) -> bool:
        """Whether any engine, ready or not, has advertised `model`."""
        return any(model in snap.models for snap in self.endpoints)

    def has_model_lists(self) -> bool:
        """Whether any engine has answered `/v1/models` at least once."""
        return any(snap.models for snap in self.endpoints)

    def ready_count(self) -> int:
        return sum(1 for snap in self.endpoints if snap.ready)

    def by_id(self, endpoint_id: EndpointId) -> EndpointSnapshot | None:
        return next((snap for snap in self.endpoints if snap.id == endpoint_id), None)

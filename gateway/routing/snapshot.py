"""Immutable views of the engine pool that scheduling runs over."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.discovery.endpoint import Endpoint
from gateway.types import EndpointId


@dataclass(frozen=True, slots=True)
class EndpointSnapshot:
    """An engine's state at the moment a request is scheduled.

    `in_flight` is the gateway's own count of requests it has sent there and not finished;
    `models` holds served model names and LoRA adapter names. Engine gauges (queue, KV usage)
    are `None` until a metrics scraper reports them.
    """

    endpoint: Endpoint
    models: frozenset[str]
    ready: bool
    in_flight: int
    num_waiting: int | None = None
    num_running: int | None = None
    kv_usage: float | None = None

    @property
    def id(self) -> EndpointId:
        return self.endpoint.id

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
            if snap.ready and snap.id not in exclude and model in snap.models
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

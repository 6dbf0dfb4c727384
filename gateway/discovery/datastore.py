"""The live table of engines: identity, served models, readiness and in-flight counts.

Owned by the lifespan; discovery writes the endpoint set, the model refresher writes models
and readiness, the director takes leases. All methods are synchronous and run on the event
loop thread, so no locking is needed and a burst of requests sees every lease at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.discovery.endpoint import Endpoint, ModelCard
from gateway.observability.metrics import GatewayMetrics
from gateway.routing.snapshot import EndpointSnapshot, PoolSnapshot
from gateway.types import EndpointId

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _EndpointRecord:
    endpoint: Endpoint
    cards: tuple[ModelCard, ...] = ()
    models: frozenset[str] = frozenset()
    ready: bool = False
    in_flight: int = 0


@dataclass(slots=True)
class EndpointLease:
    """One request's claim on an engine; `release` is idempotent."""

    endpoint: Endpoint
    _datastore: EndpointDatastore = field(repr=False)
    _released: bool = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._datastore._release(self.endpoint.id)


class EndpointDatastore:
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._records: dict[EndpointId, _EndpointRecord] = {}
        self._metrics = metrics

    def replace_endpoints(self, endpoints: Iterable[Endpoint]) -> None:
        """Adopt a new endpoint set; known engines keep their state, new ones start not ready."""
        records = {}
        for endpoint in endpoints:
            old = self._records.get(endpoint.id)
            records[endpoint.id] = old if old is not None else _EndpointRecord(endpoint)
        for gone in self._records.keys() - records.keys():
            self._metrics.record_engine_ready(gone, ready=False)
        self._records = records

    def endpoints(self) -> list[Endpoint]:
        return [record.endpoint for record in self._records.values()]

    def update_models(self, endpoint_id: EndpointId, cards: Sequence[ModelCard]) -> None:
        """Store what an engine serves and mark it ready (it just answered)."""
        record = self._records.get(endpoint_id)
        if record is None:
            return
        record.cards = tuple(cards)
        record.models = frozenset(card.id for card in cards)
        self._set_ready(record, ready=True, reason="answered")

    def mark_unready(self, endpoint_id: EndpointId, reason: str) -> None:
        record = self._records.get(endpoint_id)
        if record is not None:
            self._set_ready(record, ready=False, reason=reason)

    def lease(self, endpoint_id: EndpointId) -> EndpointLease:
        record = self._records[endpoint_id]
        record.in_flight += 1
        self._metrics.record_in_flight(endpoint_id, record.in_flight)
        return EndpointLease(record.endpoint, self)

    def snapshot(self) -> PoolSnapshot:
        return PoolSnapshot(
            tuple(
                EndpointSnapshot(r.endpoint, r.models, r.ready, r.in_flight)
                for r in self._records.values()
            )
        )

    def model_cards(self) -> list[ModelCard]:
        """The union of the cards ready engines serve; the first card seen for an id wins."""
        cards: dict[str, ModelCard] = {}
        for record in self._records.values():
            if record.ready:
                for card in record.cards:
                    cards.setdefault(card.id, card)
        return list(cards.values())

    def _release(self, endpoint_id: EndpointId) -> None:
        record = self._records.get(endpoint_id)
        if record is not None:
            record.in_flight -= 1
            self._metrics.record_in_flight(endpoint_id, record.in_flight)

    def _set_ready(self, record: _EndpointRecord, *, ready: bool, reason: str) -> None:
        if record.ready != ready:
            logger.info(
                "engine %s is %s (%s)",
                record.endpoint.id,
                "ready" if ready else "not ready",
                reason,
            )
        record.ready = ready
        self._metrics.record_engine_ready(record.endpoint.id, ready=ready)

"""The live table of engines: identity, served models, readiness and in-flight counts.

Owned by the lifespan; discovery writes the endpoint set, the model refresher writes models
and readiness, the director takes leases, the metrics scraper writes engine loads into the
`EngineLoadStore` this table reads. All methods are synchronous and run on the event loop
thread, so no locking is needed and a burst of requests sees every lease at once: a lease
is taken in the same step as the scheduling decision it follows.

Draining: an engine that leaves the endpoint set (terminating, failing its readiness, or
gone) while requests are still running there stays as a *draining* record until the last
of them ends. A draining engine gets no new requests (it is in no snapshot), is neither
refreshed nor scraped (it is not in `endpoints()`), and still counts its in-flight requests
down to 0; then it is dropped and `on_removed` is told, as for an engine that left idle.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from gateway.discovery.endpoint import Endpoint, ModelCard
from gateway.discovery.engine_load import EngineLoad, EngineLoadStore
from gateway.observability.metrics import GatewayMetrics
from gateway.routing.saturation import SaturationDetector
from gateway.routing.snapshot import EndpointSnapshot, PoolSnapshot
from gateway.types import EndpointId

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _EndpointRecord:
    endpoint: Endpoint
    cards: tuple[ModelCard, ...] = ()
    models: frozenset[str] = frozenset()
    adapters: frozenset[str] = frozenset()
    ready: bool = False
    in_flight: int = 0
    recent: float = 0.0  # decayed count of leases, as of `recent_at`
    recent_at: float = 0.0
    draining: bool = False

    def recent_requests(self, now: float, window_s: float) -> float:
        return self.recent * math.exp((self.recent_at - now) / window_s)


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
    """`loads` holds the scraped engine loads (empty: no scraper), `saturation` judges them;
    `clock` must be the clock the scraper stamps loads with. `share_window_s` is the time
    constant of each engine's decayed count of requests sent (`recent_requests`).
    `on_removed` is called (synchronously, on the loop) with the id of every engine that
    leaves the table for good, so its prefix-index entries can be cleared."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        loads: EngineLoadStore | None = None,
        saturation: SaturationDetector | None = None,
        clock: Callable[[], float] = time.monotonic,
        share_window_s: float = 60.0,
        on_removed: Callable[[EndpointId], None] | None = None,
    ) -> None:
        self._records: dict[EndpointId, _EndpointRecord] = {}
        self._on_removed = on_removed
        self._metrics = metrics
        self._loads = loads if loads is not None else EngineLoadStore()
        self._saturation = saturation if saturation is not None else SaturationDetector()
        self._clock = clock
        self._window_s = share_window_s
        self._parents: dict[str, str] = {}  # adapter → base model, over every engine

    def replace_endpoints(self, endpoints: Iterable[Endpoint]) -> None:
        """Adopt the set of engines that may get new requests.

        A known engine keeps its state (its `Endpoint` is updated); one whose URL changed
        under the same id starts over, not ready, keeping only its in-flight count (the
        requests still running at the old URL end under the same id). A new engine starts
        not ready. An engine left out drains while requests run there, else it is dropped.
        """
        records: dict[EndpointId, _EndpointRecord] = {}
        for endpoint in endpoints:
            records[endpoint.id] = self._adopt(endpoint)
        for endpoint_id, record in self._records.items():
            if endpoint_id in records:
                continue
            if record.in_flight > 0:
                self._start_draining(record)
                records[endpoint_id] = record
            else:
                self._removed(record)
        self._records = records
        self._index_adapters()

    def _adopt(self, endpoint: Endpoint) -> _EndpointRecord:
        old = self._records.get(endpoint.id)
        if old is None:
            return _EndpointRecord(endpoint)
        if old.endpoint.url != endpoint.url:
            logger.info("engine %s moved to %s", endpoint.id, endpoint.url)
            self._metrics.record_engine_ready(endpoint.id, ready=False)
            return _EndpointRecord(
                endpoint, in_flight=old.in_flight, recent=old.recent, recent_at=old.recent_at
            )
        if old.draining:
            logger.info("engine %s is back from draining", endpoint.id)
            old.draining = False
        old.endpoint = endpoint
        return old

    def _start_draining(self, record: _EndpointRecord) -> None:
        if not record.draining:
            logger.info(
                "engine %s is draining: %d requests still running",
                record.endpoint.id,
                record.in_flight,
            )
            record.draining = True
            # Ready again only after it is back in the set and answers `/v1/models`.
            self._set_ready(record, ready=False, reason="left discovery")

    def _removed(self, record: _EndpointRecord) -> None:
        endpoint_id = record.endpoint.id
        logger.info("engine %s removed", endpoint_id)
        self._metrics.record_engine_ready(endpoint_id, ready=False)
        if self._on_removed is not None:
            self._on_removed(endpoint_id)

    def _index_adapters(self) -> None:
        self._parents = {
            card.id: card.parent
            for record in self._records.values()
            if not record.draining
            for card in record.cards
            if card.is_adapter and card.parent is not None
        }

    def endpoints(self) -> list[Endpoint]:
        """The engines that may get new requests (draining ones are left out)."""
        return [record.endpoint for record in self._records.values() if not record.draining]

    def draining(self) -> dict[EndpointId, int]:
        """Draining engines and the requests still running on each."""
        return {
            endpoint_id: record.in_flight
            for endpoint_id, record in self._records.items()
            if record.draining
        }

    def update_models(self, endpoint_id: EndpointId, cards: Sequence[ModelCard]) -> None:
        """Store what an engine serves and mark it ready (it just answered)."""
        record = self._records.get(endpoint_id)
        if record is None or record.draining:
            return  # a refresh that was in flight when the engine left
        record.cards = tuple(cards)
        record.models = frozenset(card.id for card in cards)
        record.adapters = frozenset(card.id for card in cards if card.is_adapter)
        self._index_adapters()
        self._set_ready(record, ready=True, reason="answered")

    def mark_unready(self, endpoint_id: EndpointId, reason: str) -> None:
        record = self._records.get(endpoint_id)
        if record is not None:
            self._set_ready(record, ready=False, reason=reason)

    def lease(self, endpoint_id: EndpointId) -> EndpointLease:
        record = self._records[endpoint_id]
        record.in_flight += 1
        now = self._clock()
        record.recent = record.recent_requests(now, self._window_s) + 1.0
        record.recent_at = now
        self._metrics.record_in_flight(endpoint_id, record.in_flight)
        return EndpointLease(record.endpoint, self)

    def snapshot(self) -> PoolSnapshot:
        now = self._clock()
        return PoolSnapshot(
            tuple(self._snapshot(r, now) for r in self._records.values() if not r.draining)
        )

    def _snapshot(self, record: _EndpointRecord, now: float) -> EndpointSnapshot:
        load: EngineLoad | None = self._loads.get(record.endpoint.id)
        saturated = self._saturation.is_saturated(load, record.in_flight, now)
        recent = record.recent_requests(now, self._window_s)
        if load is None or not self._saturation.is_fresh(load, now):
            return EndpointSnapshot(
                record.endpoint,
                record.models,
                record.ready,
                record.in_flight,
                adapters=record.adapters,
                recent_requests=recent,
                saturated=saturated,
            )
        lora = load.lora
        return EndpointSnapshot(
            record.endpoint,
            record.models,
            record.ready,
            record.in_flight,
            num_waiting=load.num_waiting,
            num_running=load.num_running,
            kv_usage=load.kv_usage,
            adapters=record.adapters,
            active_adapters=lora.active if lora is not None else frozenset(),
            max_loras=lora.max_loras if lora is not None else None,
            recent_requests=recent,
            saturated=saturated,
        )

    def base_model(self, name: str) -> str | None:
        """The base model of LoRA adapter `name` as some engine lists it; None otherwise."""
        return self._parents.get(name)

    def served_base_model(self, endpoint_id: EndpointId) -> str | None:
        """The first base model (not an adapter) the engine lists; None before it answered."""
        record = self._records.get(endpoint_id)
        if record is None:
            return None
        return next((card.id for card in record.cards if not card.is_adapter), None)

    def model_root(self, endpoint_id: EndpointId, model: str) -> str | None:
        """The `root` of `model`'s card on the engine (vLLM: the path or repository of the
        weights it loaded, or an adapter's path); None when it lists none."""
        record = self._records.get(endpoint_id)
        for card in record.cards if record is not None else ():
            if card.id == model:
                root = card.raw.get("root")
                return root if isinstance(root, str) else None
        return None

    def engine_url(self, model: str) -> str | None:
        """The base URL of a ready engine serving `model` (for its `/tokenize`), if any."""
        for record in self._records.values():
            if record.ready and model in record.models:
                return record.endpoint.url
        return None

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
        if record is None:
            return
        record.in_flight -= 1
        self._metrics.record_in_flight(endpoint_id, record.in_flight)
        if record.draining and record.in_flight <= 0:
            del self._records[endpoint_id]
            self._removed(record)

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

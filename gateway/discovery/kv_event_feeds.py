"""Precise prefix locality: one KV-event subscriber per engine that publishes its events.

An engine's events are re-hashed under the base model it serves, which is known from its
`/v1/models` answer; so each engine's subscriber starts once the model refresher has seen
it answer, and the feed keeps checking (every `check_interval_s`) for engines that appear,
answer late or leave. An engine that leaves loses its subscriber and its index entries.
Owned by the lifespan: `run` is a background task, `stop` is awaited at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import zmq.asyncio

from gateway.discovery.datastore import EndpointDatastore
from gateway.prefix.interfaces import PrefixIndex
from gateway.prefix.kv_events import KVEventSubscriber
from gateway.prefix.kv_tracker import KVEventStats, KVEventTracker
from gateway.types import EndpointId

logger = logging.getLogger(__name__)


class KVEventFeeds:
    def __init__(
        self,
        datastore: EndpointDatastore,
        index: PrefixIndex,
        *,
        block_size: int,
        topic: str = "",
        check_interval_s: float = 1.0,
    ) -> None:
        self._datastore = datastore
        self._index = index
        self._block_size = block_size
        self._topic = topic
        self._check_interval_s = check_interval_s
        self._context: zmq.asyncio.Context | None = None
        self._subscribers: dict[EndpointId, KVEventSubscriber] = {}

    def stats(self) -> Mapping[EndpointId, KVEventStats]:
        return {endpoint: sub.stats for endpoint, sub in self._subscribers.items()}

    async def run(self) -> None:
        while True:
            await self.reconcile()
            await asyncio.sleep(self._check_interval_s)

    async def reconcile(self) -> None:
        """Start subscribers for engines ready to have one; stop those of engines gone."""
        wanted = {e.id: e for e in self._datastore.endpoints() if e.kv_events is not None}
        for endpoint_id in list(self._subscribers.keys() - wanted.keys()):
            await self._subscribers.pop(endpoint_id).stop()
            await self._index.clear(endpoint_id)
        for endpoint_id, endpoint in wanted.items():
            current = self._subscribers.get(endpoint_id)
            if current is not None and current.address == endpoint.kv_events:
                continue
            model = self._datastore.served_base_model(endpoint_id)
            if model is None:
                continue  # not answered yet: its base model seeds the hashes
            if current is not None:
                await self._subscribers.pop(endpoint_id).stop()
            await self._start(endpoint_id, str(endpoint.kv_events), model)

    async def _start(self, endpoint_id: EndpointId, address: str, model: str) -> None:
        if self._context is None:
            self._context = zmq.asyncio.Context()
        tracker = KVEventTracker(endpoint_id, self._index, model=model, block_size=self._block_size)
        subscriber = KVEventSubscriber(address, tracker, topic=self._topic, context=self._context)
        # Whatever the index held for this engine predates the stream we are about to
        # read: start from a known subset of the truth (empty) rather than a guess.
        await self._index.clear(endpoint_id)
        await subscriber.start()
        self._subscribers[endpoint_id] = subscriber

    async def stop(self) -> None:
        subscribers, self._subscribers = list(self._subscribers.values()), {}
        await asyncio.gather(*(sub.stop() for sub in subscribers))
        if self._context is not None:
            self._context.destroy(linger=0)
            self._context = None

"""Keep each engine's model list fresh; the same call is its health check.

An engine that fails to answer `/v1/models` (or answers garbage) is marked not ready; it
becomes ready again as soon as it answers. Runs as a lifespan-owned task.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import orjson

from gateway.discovery.datastore import EndpointDatastore
from gateway.discovery.endpoint import Endpoint, ModelCard

logger = logging.getLogger(__name__)


class ModelListError(ValueError):
    """An engine's `/v1/models` answer is not an OpenAI model list."""


def parse_model_list(body: bytes) -> list[ModelCard]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ModelListError(f"not JSON: {exc}") from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise ModelListError("no `data` array")
    cards = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ModelListError("a model card without a string `id`")
        parent = item.get("parent")
        cards.append(ModelCard(item["id"], parent if isinstance(parent, str) else None, item))
    return cards


class ModelRefresher:
    def __init__(
        self,
        datastore: EndpointDatastore,
        client: httpx.AsyncClient,
        *,
        interval_s: float,
        timeout_s: float,
    ) -> None:
        self._datastore = datastore
        self._client = client
        self._interval_s = interval_s
        self._timeout_s = timeout_s

    async def run(self) -> None:
        """Refresh every engine every `interval_s` until cancelled; in between, every
        second, the engines not ready, so one that discovery just added or one that came
        back gets traffic within about a second."""
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self._interval_s
        while True:
            await asyncio.sleep(min(self._interval_s, 1.0))
            if loop.time() >= next_full:
                next_full = loop.time() + self._interval_s
                await self.refresh_all()
            else:
                await self.refresh_unready()

    async def refresh_all(self) -> None:
        endpoints = self._datastore.endpoints()
        await asyncio.gather(*(self.refresh(endpoint) for endpoint in endpoints))

    async def refresh_unready(self) -> None:
        unready = [snap.endpoint for snap in self._datastore.snapshot().endpoints if not snap.ready]
        await asyncio.gather(*(self.refresh(endpoint) for endpoint in unready))

    async def refresh(self, endpoint: Endpoint) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.get(endpoint.url + "/v1/models")
            response.raise_for_status()
            cards = parse_model_list(response.content)
        except (httpx.HTTPError, TimeoutError, ModelListError) as exc:
            logger.debug("model refresh of %s failed: %r", endpoint.id, exc)
            self._datastore.mark_unready(endpoint.id, reason=f"/v1/models failed: {exc!r}")
            return
        self._datastore.update_models(endpoint.id, cards)

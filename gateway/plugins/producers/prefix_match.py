"""`prefix-match-producer`: ask the prefix index which engines hold the prompt's blocks."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from pydantic import Field

from gateway.plugins.base import PluginDeps, PluginParams, RoutingPlugin
from gateway.routing.interfaces import Producer, SchedulingContext

logger = logging.getLogger(__name__)


class PrefixMatchProducer(Producer, RoutingPlugin):
    """Fills `SchedulingContext.prefix_matches` with one index lookup per request.

    Looks up at most `maxBlocks` leading blocks (a longer match changes no decision worth
    its cost). The index degrades to local state on its own when Redis fails; `timeoutS`
    bounds the whole lookup on top, and a lookup that overruns it counts as no match.
    """

    type_name = "prefix-match-producer"
    prefix_aware = True

    class Params(PluginParams):
        max_blocks: int = Field(default=4096, ge=1)
        timeout_s: float = Field(default=0.2, gt=0)

    def __init__(self, params: Params, deps: PluginDeps) -> None:
        self._index = deps.prefix_index
        self._max_blocks = params.max_blocks
        self._timeout_s = params.timeout_s

    async def produce(self, context: SchedulingContext) -> SchedulingContext:
        prompt = context.prompt
        hashes = prompt.block_hashes[: self._max_blocks]
        model = prompt.base_model or context.request.model
        if not hashes:
            return dataclasses.replace(context, prefix_lookup=True)
        try:
            async with asyncio.timeout(self._timeout_s):
                matches = await self._index.match(model, hashes)
        except TimeoutError:
            logger.debug("prefix lookup of %s timed out", context.request.request_id)
            matches = {}
        return dataclasses.replace(context, prefix_lookup=True, prefix_matches=matches)

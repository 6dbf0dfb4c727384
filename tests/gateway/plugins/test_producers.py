from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.plugins.base import PluginDeps
from gateway.plugins.producers.prefix_match import PrefixMatchProducer
from gateway.prefix.interfaces import IndexStats
from gateway.prefix.memory import MemoryPrefixIndex
from tests.gateway.plugins.pool import BLOCK, context


class _HungIndex(MemoryPrefixIndex):
    async def match(self, model: str, hashes: Sequence[int]) -> dict[str, int]:
        await asyncio.sleep(10)
        return {}

    def stats(self) -> IndexStats:
        return IndexStats(0, 0)


async def test_fills_matches_from_the_index() -> None:
    index = MemoryPrefixIndex()
    await index.record("a", "m", [1, 2, 3, 4])
    await index.record("b", "m", [1, 2])
    await index.record("c", "other-model", [1, 2, 3, 4])
    producer = PrefixMatchProducer.build({}, PluginDeps(index, BLOCK))
    produced = await producer.produce(context(tokens=100))
    assert produced.prefix_lookup
    assert produced.prefix_matches == {"a": 4, "b": 2}


async def test_looks_up_at_most_max_blocks() -> None:
    index = MemoryPrefixIndex()
    await index.record("a", "m", list(range(1, 7)))
    producer = PrefixMatchProducer.build({"maxBlocks": 3}, PluginDeps(index, BLOCK))
    produced = await producer.produce(context(tokens=100))
    assert produced.prefix_matches == {"a": 3}


async def test_a_prompt_without_blocks_needs_no_lookup() -> None:
    producer = PrefixMatchProducer.build({}, PluginDeps(_HungIndex(), BLOCK))
    produced = await producer.produce(context(tokens=10))
    assert produced.prefix_lookup
    assert produced.prefix_matches == {}


async def test_a_hung_index_counts_as_no_match() -> None:
    producer = PrefixMatchProducer.build({"timeoutS": 0.01}, PluginDeps(_HungIndex(), BLOCK))
    produced = await producer.produce(context(tokens=100))
    assert produced.prefix_matches == {}

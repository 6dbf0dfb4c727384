from __future__ import annotations

import pytest

from gateway.openai.prompt import Prompt
from gateway.prefix.memory import MemoryPrefixIndex
from gateway.routing.locality import PrefixLocality
from tests.gateway.plugins.pool import prompt, request


@pytest.mark.parametrize(("record", "expected"), [(True, {"e": 3}), (False, {})])
async def test_first_byte_records_only_in_approximate_modes(
    record: bool, expected: dict[str, int]
) -> None:
    index = MemoryPrefixIndex()
    locality = PrefixLocality(index, block_size=16, record=record)
    assert await locality.engine_accepted("e", request(), prompt(50)) is record
    assert await index.match("m", [1, 2, 3]) == expected


async def test_adapter_prompts_are_recorded_under_the_base_model() -> None:
    index = MemoryPrefixIndex()
    locality = PrefixLocality(index, block_size=16, record=True)
    adapter_prompt = Prompt("t", tuple(range(40)), (7, 8), base_model="base")
    await locality.engine_accepted("e", request("adapter"), adapter_prompt)
    assert await index.match("base", [7, 8]) == {"e": 2}


@pytest.mark.parametrize(
    ("blocks", "tokens", "expected"),
    [(0, 100, 0), (3, 100, 48), (10, 160, 144), (10, 161, 160), (4, 0, 64)],
)
def test_cached_tokens_never_count_the_last_token(blocks: int, tokens: int, expected: int) -> None:
    locality = PrefixLocality(MemoryPrefixIndex(), block_size=16, record=True)
    prompt_ = Prompt("t", tuple(range(tokens)), tuple(range(tokens // 16)))
    assert locality.cached_tokens(blocks, prompt_) == expected


@pytest.mark.parametrize(("record", "expected"), [(True, {"e": 3}), (False, {})])
async def test_scheduling_records_in_the_background(record: bool, expected: dict[str, int]) -> None:
    index = MemoryPrefixIndex()
    locality = PrefixLocality(index, block_size=16, record=record)
    assert locality.engine_chosen("e", request(), prompt(50)) is record
    await locality.drain()
    assert await index.match("m", [1, 2, 3]) == expected


async def test_a_refusal_forgets_only_the_blocks_it_added() -> None:
    index = MemoryPrefixIndex()
    locality = PrefixLocality(index, block_size=16, record=True)
    await index.record("e", "m", [1, 2])  # an earlier request's prefix
    assert locality.engine_chosen("e", request(), prompt(50))
    locality.engine_refused("e", request(), prompt(50), held_blocks=2)
    await locality.drain()
    assert await index.match("m", [1, 2, 3]) == {"e": 2}

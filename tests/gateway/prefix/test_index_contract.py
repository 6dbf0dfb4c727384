"""One contract for every `PrefixIndex`: the embedded LRU, Redis, and Redis read through
another replica (whose local state is empty, so every answer comes from the server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from gateway.prefix.interfaces import PrefixIndex
from gateway.prefix.memory import MemoryPrefixIndex
from tests.gateway.prefix.support import RedisIndexes, eventually

M = "model-a"


@dataclass
class Pair:
    """Where the test writes and where it reads (the same index, or two replicas)."""

    writer: PrefixIndex
    reader: PrefixIndex


MakePair = Callable[..., Pair]


@pytest.fixture(params=["memory", "redis", "redis-other-replica"])
async def make_pair(request: pytest.FixtureRequest) -> AsyncIterator[MakePair]:
    kind: str = request.param
    memory: list[MemoryPrefixIndex] = []
    redis = RedisIndexes(request.getfixturevalue("redis_server").url) if kind != "memory" else None

    def make(capacity: int = 1000, ttl_s: float | None = None) -> Pair:
        if redis is None:
            index = MemoryPrefixIndex(capacity=capacity, ttl_s=ttl_s)
            memory.append(index)
            return Pair(index, index)
        options: dict[str, float] = {"capacity": capacity, "refresh_interval_s": 0}
        if ttl_s is not None:
            options["ttl_s"] = ttl_s
        writer = redis.make(**options)
        reader = redis.make(**options) if kind == "redis-other-replica" else writer
        return Pair(writer, reader)

    yield make
    for index in memory:
        await index.close()
    if redis is not None:
        await redis.close()


@pytest.mark.parametrize(
    ("records", "query", "expected"),
    [
        pytest.param([], [1, 2, 3], {}, id="empty-index"),
        pytest.param([("e1", [1, 2, 3])], [], {}, id="empty-query"),
        pytest.param([("e1", [1, 2, 3])], [1, 2, 3], {"e1": 3}, id="full"),
        pytest.param([("e1", [1, 2, 3])], [1, 2, 3, 4, 5], {"e1": 3}, id="longer-query"),
        pytest.param([("e1", [1, 2, 3])], [1, 2], {"e1": 2}, id="shorter-query"),
        pytest.param([("e1", [2, 3])], [1, 2, 3], {}, id="first-block-missing"),
        pytest.param([("e1", [1, 3])], [1, 2, 3], {"e1": 1}, id="leading-only"),
        pytest.param(
            [("e1", [1, 2, 3]), ("e2", [1, 2]), ("e3", [1])],
            [1, 2, 3],
            {"e1": 3, "e2": 2, "e3": 1},
            id="several-endpoints",
        ),
        pytest.param(
            [("e1", [1, 2]), ("e2", [1, 9, 3])],
            [1, 2, 3],
            {"e1": 2, "e2": 1},
            id="divergent-chains",
        ),
        pytest.param(
            [("e1", [1, 2]), ("e1", [1, 2, 3, 4])],
            [1, 2, 3, 4],
            {"e1": 4},
            id="rerecord-extends",
        ),
        pytest.param([("e1", [2**64 - 1, 0])], [2**64 - 1, 0], {"e1": 2}, id="hash-range-edges"),
    ],
)
async def test_match_counts_leading_blocks(
    make_pair: MakePair,
    records: list[tuple[str, list[int]]],
    query: list[int],
    expected: dict[str, int],
) -> None:
    pair = make_pair()
    for endpoint, hashes in records:
        await pair.writer.record(endpoint, M, hashes)
    assert await pair.reader.match(M, query) == expected


async def test_models_are_isolated(make_pair: MakePair) -> None:
    pair = make_pair()
    await pair.writer.record("e1", M, [1, 2, 3])
    await pair.writer.record("e2", "model-b", [1, 2])
    assert await pair.reader.match(M, [1, 2, 3]) == {"e1": 3}
    assert await pair.reader.match("model-b", [1, 2, 3]) == {"e2": 2}
    assert await pair.reader.match("model:c", [1, 2, 3]) == {}


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        pytest.param([3], {"e1": 2, "e2": 3}, id="tail"),
        pytest.param([2], {"e1": 1, "e2": 3}, id="middle-cuts-the-chain"),
        pytest.param([1], {"e2": 3}, id="root"),
        pytest.param([1, 2, 3], {"e2": 3}, id="all"),
        pytest.param([42], {"e1": 3, "e2": 3}, id="unknown-hash"),
    ],
)
async def test_remove(make_pair: MakePair, removed: list[int], expected: dict[str, int]) -> None:
    pair = make_pair()
    await pair.writer.record("e1", M, [1, 2, 3])
    await pair.writer.record("e2", M, [1, 2, 3])
    await pair.writer.remove("e1", M, removed)
    assert await pair.reader.match(M, [1, 2, 3]) == expected


async def test_clear_forgets_an_endpoint_in_every_model(make_pair: MakePair) -> None:
    pair = make_pair()
    await pair.writer.record("e1", M, [1, 2, 3])
    await pair.writer.record("e1", "model-b", [1, 2])
    await pair.writer.record("e2", M, [1, 2])
    await pair.writer.clear("e1")
    assert await pair.reader.match(M, [1, 2, 3]) == {"e2": 2}
    assert await pair.reader.match("model-b", [1, 2]) == {}
    await pair.writer.clear("never-seen")
    await pair.writer.record("e1", M, [1])
    assert await pair.reader.match(M, [1, 2, 3]) == {"e1": 1, "e2": 2}


async def test_capacity_evicts_least_recently_recorded_tails_first(make_pair: MakePair) -> None:
    pair = make_pair(capacity=4)
    await pair.writer.record("e1", M, [1, 2, 3])
    await pair.writer.record("e1", M, [10, 11, 12])
    # Six blocks, room for four: the oldest record loses its tail (3, then 2), not its root.
    assert await pair.reader.match(M, [1, 2, 3]) == {"e1": 1}
    assert await pair.reader.match(M, [10, 11, 12]) == {"e1": 3}
    await pair.writer.record("e1", M, [1])  # touch: 1 is now the newest
    await pair.writer.record("e1", M, [20])
    assert await pair.reader.match(M, [10, 11, 12]) == {"e1": 2}
    assert await pair.reader.match(M, [1]) == {"e1": 1}


async def test_capacity_is_per_endpoint_and_model(make_pair: MakePair) -> None:
    pair = make_pair(capacity=3)
    await pair.writer.record("e1", M, [1, 2, 3])
    await pair.writer.record("e2", M, [1, 2, 3])
    await pair.writer.record("e2", M, [7, 8, 9])
    await pair.writer.record("e1", "model-b", [4, 5, 6])
    assert await pair.reader.match(M, [1, 2, 3]) == {"e1": 3}
    assert await pair.reader.match(M, [7, 8, 9]) == {"e2": 3}
    assert await pair.reader.match("model-b", [4, 5, 6]) == {"e1": 3}


async def test_long_chain_larger_than_capacity(make_pair: MakePair) -> None:
    pair = make_pair(capacity=100)
    chain = list(range(1, 2501))
    await pair.writer.record("e1", M, chain)
    assert await pair.reader.match(M, chain) == {"e1": 100}


async def test_entries_expire_after_the_ttl(make_pair: MakePair) -> None:
    pair = make_pair(ttl_s=1.0)
    await pair.writer.record("e1", M, [1, 2, 3])
    assert await pair.reader.match(M, [1, 2, 3]) == {"e1": 3}

    async def expired() -> bool:
        return await pair.reader.match(M, [1, 2, 3]) == {}

    await eventually(expired)
    await pair.writer.record("e1", M, [1, 2])
    assert await pair.reader.match(M, [1, 2, 3]) == {"e1": 2}


async def test_names_with_separators_do_not_collide(make_pair: MakePair) -> None:
    pair = make_pair()
    names = ["10.0.0.1:8000", "a:b", "a%3Ab", "a%253Ab", "e=x", "endpoints"]
    for n, endpoint in enumerate(names):
        await pair.writer.record(endpoint, "org/model:v1%", list(range(1, n + 2)))
    expected = {endpoint: n + 1 for n, endpoint in enumerate(names)}
    assert await pair.reader.match("org/model:v1%", list(range(1, 10))) == expected
    assert await pair.reader.match("org/model%3Av1%", [1]) == {}
    await pair.writer.clear("a:b")
    del expected["a:b"]
    assert await pair.reader.match("org/model:v1%", list(range(1, 10))) == expected

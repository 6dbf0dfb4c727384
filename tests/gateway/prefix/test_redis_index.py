"""What only the Redis index does: sharing between replicas, surviving Redis outages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from gateway.prefix.redis_index import RedisPrefixIndex
from loadtests.redis_server import RedisServer
from tests.gateway.prefix.support import RedisIndexes, eventually

M = "model-a"
FAST_BACKOFF = {"initial_backoff_s": 0.05, "max_backoff_s": 0.2}


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server this test may stop, pause and restart without disturbing the others."""
    with RedisServer() as server:
        yield server


@pytest.fixture
async def own_indexes(own_server: RedisServer) -> AsyncIterator[RedisIndexes]:
    indexes = RedisIndexes(own_server.url)
    yield indexes
    await indexes.close()


async def test_replicas_share_records(redis_indexes: RedisIndexes) -> None:
    a, b = redis_indexes.make(), redis_indexes.make()
    await a.record("e1", M, [1, 2, 3])
    await b.record("e2", M, [1, 2])
    assert await a.match(M, [1, 2, 3]) == {"e1": 3, "e2": 2}
    assert await b.match(M, [1, 2, 3]) == {"e1": 3, "e2": 2}
    await b.clear("e1")
    assert await a.match(M, [1, 2, 3]) == {"e1": 3, "e2": 2}  # a's own record (near-cache)
    fresh = redis_indexes.make()
    assert await fresh.match(M, [1, 2, 3]) == {"e2": 2}


async def test_key_prefixes_isolate_deployments(redis_server: RedisServer) -> None:
    one, other = RedisIndexes(redis_server.url), RedisIndexes(redis_server.url)
    try:
        await one.make().record("e1", M, [1])
        assert await other.make().match(M, [1]) == {}
    finally:
        await one.close()
        await other.close()


async def test_recent_blocks_are_not_rewritten(redis_indexes: RedisIndexes) -> None:
    coalescing = redis_indexes.make(refresh_interval_s=60)
    eager = redis_indexes.make(refresh_interval_s=0)
    observer = redis_indexes.make()
    for writer in (coalescing, eager):
        await writer.record("e1", M, [1, 2])
        await observer.remove("e1", M, [1, 2])  # Redis forgets; the writer's local state not
        await writer.record("e1", M, [1, 2, 3])
        # Only 3 is new to the coalescing writer; the eager one rewrites the whole chain.
        expected = {} if writer is coalescing else {"e1": 3}
        assert await observer.match(M, [1, 2, 3]) == expected
        assert await observer.match(M, [3]) == {"e1": 1}
        await observer.clear("e1")


async def test_redis_down_falls_back_to_local_state(
    own_server: RedisServer, own_indexes: RedisIndexes
) -> None:
    index = own_indexes.make(**FAST_BACKOFF)
    other = own_indexes.make(**FAST_BACKOFF)
    await other.record("e2", M, [1])
    await index.record("e1", M, [1, 2, 3])
    assert await index.match(M, [1, 2, 3]) == {"e1": 3, "e2": 1}
    assert index.stats().remote_available

    own_server.stop()
    assert await index.match(M, [1, 2, 3]) == {"e1": 3}  # local only, no exception
    await index.record("e3", M, [1, 2])
    await index.remove("e1", M, [3])
    await index.clear("e9")
    assert await index.match(M, [1, 2, 3]) == {"e1": 2, "e3": 2}
    stats = index.stats()
    assert not stats.remote_available
    assert stats.remote_errors >= 1
    assert stats.fallback_matches >= 2
    assert stats.skipped_remote_writes >= 1

    own_server.start()  # same port, empty: a restarted cache

    async def redis_back() -> bool:
        await index.match(M, [1])
        return index.remote_available

    await eventually(redis_back)
    await other.record("e4", M, [1, 2, 3])
    assert await index.match(M, [1, 2, 3]) == {"e1": 2, "e3": 2, "e4": 3}


async def test_hung_redis_times_out_and_falls_back(
    own_server: RedisServer, own_indexes: RedisIndexes
) -> None:
    index = own_indexes.make(match_timeout_s=0.05, write_timeout_s=0.05, **FAST_BACKOFF)
    await index.record("e1", M, [1, 2])
    own_server.pause()
    try:
        assert await index.match(M, [1, 2]) == {"e1": 2}
        await index.record("e2", M, [1])
        assert await index.match(M, [1, 2]) == {"e1": 2, "e2": 1}
        assert index.remote_errors >= 1
        assert not index.remote_available
    finally:
        own_server.resume()

    async def redis_back() -> bool:
        await index.match(M, [1])
        return index.remote_available

    await eventually(redis_back)


async def test_clear_missed_during_an_outage_is_replayed(
    own_server: RedisServer, own_indexes: RedisIndexes
) -> None:
    index = own_indexes.make(initial_backoff_s=1.0, max_backoff_s=1.0)
    observer = own_indexes.make()
    await index.record("e1", M, [1, 2])
    own_server.pause()
    try:
        await index.match(M, [1])  # times out: the breaker opens for a second
    finally:
        own_server.resume()
    # Not sent at all while the breaker is open (a timed-out command may still run late,
    # so only an unsent one makes this deterministic): remembered instead.
    await index.clear("e1")
    assert await observer.match(M, [1, 2]) == {"e1": 2}

    async def replayed() -> bool:
        await index.match(M, [5])  # the probe that closes the breaker
        await index.record("e2", M, [7])  # the next write replays the clear first
        return await observer.match(M, [1, 2]) == {}

    await eventually(replayed)


async def test_index_closes_its_client(redis_server: RedisServer) -> None:
    index = RedisPrefixIndex.from_url(redis_server.url)
    await index.record("e1", M, [1])
    await index.close()


async def test_every_key_is_namespaced_and_expires(redis_indexes: RedisIndexes) -> None:
    index = redis_indexes.make(ttl_s=300)
    await index.record("10.0.0.1:8000", M, [1, 2, 3])
    await index.record("10.0.0.2:8000", "model-b", [4])
    raw = Redis.from_url(redis_indexes.url)
    try:
        keys = sorted(k.decode() for k in await raw.keys(f"{redis_indexes.key_prefix}:*"))
        p = redis_indexes.key_prefix
        assert keys == [
            f"{p}:ep=10.0.0.1%3A8000:models",
            f"{p}:ep=10.0.0.2%3A8000:models",
            f"{p}:m=model-a:e=10.0.0.1%3A8000",
            f"{p}:m=model-a:endpoints",
            f"{p}:m=model-b:e=10.0.0.2%3A8000",
            f"{p}:m=model-b:endpoints",
        ]
        for key in keys:
            assert 0 < await raw.pttl(key) <= 300_000
        await index.clear("10.0.0.1:8000")
        await index.clear("10.0.0.2:8000")
        assert await raw.keys(f"{p}:*e=*") == []
        assert await raw.keys(f"{p}:ep=*") == []
    finally:
        await raw.aclose()


async def test_endpoints_that_left_are_pruned(redis_indexes: RedisIndexes) -> None:
    index = redis_indexes.make()
    await index.record("gone", M, [1])
    await index.remove("gone", M, [1])  # its block set is now empty, hence deleted
    raw = Redis.from_url(redis_indexes.url)
    try:
        key = f"{redis_indexes.key_prefix}:m={M}:endpoints"

        async def pruned() -> bool:
            await index.record("alive", M, [2])
            return await raw.smembers(key) == {b"alive"}

        await eventually(pruned)
    finally:
        await raw.aclose()

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from loadtests.redis_server import RedisServer
from tests.gateway.prefix.support import RedisIndexes


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real Redis-protocol server for the session; tests isolate by key prefix."""
    with RedisServer() as server:
        yield server


@pytest.fixture
async def redis_indexes(redis_server: RedisServer) -> AsyncIterator[RedisIndexes]:
    indexes = RedisIndexes(redis_server.url)
    yield indexes
    await indexes.close()

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtests.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis-protocol server; tests isolate by stream key."""
    with RedisServer() as server:
        yield server

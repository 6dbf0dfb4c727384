"""Helpers shared by the prefix tests: polling, fake clocks, Redis index factories."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.prefix.redis_index import RedisIndexConfig, RedisPrefixIndex


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Poll `check` until it is true; fail the test after `timeout_s` (never a timing
    assertion: the deadline only bounds a hang)."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached before the deadline")
        await asyncio.sleep(0.02)


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RedisIndexes:
    """Makes Redis indexes ("gateway replicas") sharing one fresh key prefix; closes them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.key_prefix = f"test-{uuid.uuid4().hex[:12]}"
        self._made: list[RedisPrefixIndex] = []

    def make(self, **changes: Any) -> RedisPrefixIndex:
        config = dataclasses.replace(RedisIndexConfig(key_prefix=self.key_prefix), **changes)
        index = RedisPrefixIndex.from_url(self.url, config)
        self._made.append(index)
        return index

    async def close(self) -> None:
        for index in self._made:
            await index.close()

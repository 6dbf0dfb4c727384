"""The shared prefix index: Redis (or Valkey) for all gateway replicas, local state as backup.

Every call is one round trip (one EVALSHA; see `redis_schema` for keys and bounds) under
its own short timeout. A local `MemoryPrefixIndex` with the same TTL and capacity is always
written first (write-through) and serves three purposes:

- fallback: when Redis fails or times out, the circuit breaker opens and `match` answers
  from local state until a single probe call succeeds after the backoff; no call ever
  raises because Redis is down, and no request pays a connect attempt while it is open;
- near-cache for misses: `match` returns, per endpoint, the larger of Redis's and the local
  count, so what this replica recorded itself (including writes Redis missed during an
  outage or that are still in flight) is never lost to a Redis miss. Redis reads are not
  cached: another replica's record must be visible on the next request;
- write coalescing: `record` sends Redis only the blocks this replica has not recorded for
  that endpoint within `refresh_interval_s` (and since Redis last recovered from an
  outage), so a conversation's growing prefix costs one write of its new blocks per turn,
  not of the whole history. The price: a write that failed without opening the breaker
  for long, or a Redis restart nobody noticed, leaves those blocks out of Redis until
  their next record after `refresh_interval_s`.

Clears that could not reach Redis are remembered (bounded) and replayed by the next write.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from gateway.prefix import redis_schema
from gateway.prefix.breaker import CircuitBreaker
from gateway.prefix.interfaces import IndexStats, PrefixIndex
from gateway.prefix.memory import DEFAULT_CAPACITY, MemoryPrefixIndex
from gateway.prefix.redis_schema import RedisKeys, escape

logger = logging.getLogger(__name__)

_MAX_PENDING_CLEARS = 1024


@dataclass(frozen=True, slots=True)
class RedisIndexConfig:
    """Tuning of a `RedisPrefixIndex`; times in seconds, `capacity` in blocks per endpoint
    and model (the local copy uses the same TTL and capacity)."""

    key_prefix: str = "kvgate:prefix"
    ttl_s: float = 600.0
    capacity: int = DEFAULT_CAPACITY
    match_timeout_s: float = 0.05
    write_timeout_s: float = 0.1
    clear_timeout_s: float = 0.25
    refresh_interval_s: float = 15.0
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 10.0

    def __post_init__(self) -> None:
        if self.ttl_s < 0.001:
            raise ValueError("ttl_s must be ≥ 1 ms: Redis keys always expire")
        if self.capacity < 1:
            raise ValueError("capacity must be ≥ 1")


class RedisPrefixIndex(PrefixIndex):
    """`PrefixIndex` over Redis, shared by gateway replicas; never raises for Redis errors.

    Counters (monotonic, read by the metrics module): `remote_errors` (failed or timed-out
    calls), `fallback_matches` (matches answered from local state only),
    `skipped_remote_writes` (writes not sent because the breaker was open).
    Use from one event loop; concurrent calls are fine.
    """

    def __init__(
        self,
        client: Redis,
        config: RedisIndexConfig | None = None,
        *,
        owns_client: bool = False,
    ) -> None:
        self._config = config = config or RedisIndexConfig()
        self._client = client
        self._owns_client = owns_client
        self._keys = RedisKeys(config.key_prefix)
        self._ttl_ms = str(max(1, round(config.ttl_s * 1000)))
        self._local = MemoryPrefixIndex(capacity=config.capacity, ttl_s=config.ttl_s)
        self._breaker = CircuitBreaker(
            initial_backoff_s=config.initial_backoff_s, max_backoff_s=config.max_backoff_s
        )
        self._match = client.register_script(redis_schema.MATCH)
        self._record = client.register_script(redis_schema.RECORD)
        self._remove = client.register_script(redis_schema.REMOVE)
        self._clear = client.register_script(redis_schema.CLEAR)
        self._pending_clears: set[str] = set()
        self._recovered_at = -math.inf
        self.remote_errors = 0
        self.fallback_matches = 0
        self.skipped_remote_writes = 0

    @classmethod
    def from_url(
        cls,
        url: str,
        config: RedisIndexConfig | None = None,
        *,
        max_connections: int = 64,
        connect_timeout_s: float = 0.5,
    ) -> RedisPrefixIndex:
        """An index owning a pooled client for `url` (`redis://host:port/db`).

        The pool holds at most `max_connections`. redis-py retries a command once, at
        once, on a connection error only: after a Redis restart every pooled connection
        is dead, and each would otherwise fail one call and open the breaker. Timeouts
        are not retried; the call falls back and the breaker decides when to try again.
        """
        config = config or RedisIndexConfig()
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=config.write_timeout_s,
            socket_timeout=max(config.clear_timeout_s, config.write_timeout_s),
            socket_connect_timeout=connect_timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        return cls(Redis.from_pool(pool), config, owns_client=True)

    @property
    def remote_available(self) -> bool:
        return self._breaker.available

    async def match(self, model: str, hashes: Sequence[int]) -> dict[str, int]:
        local = await self._local.match(model, hashes)
        if not hashes:
            return local
        args = (self._keys.model(model), _hex(hashes), self._ttl_ms)
        reply = await self._call(self._match, args, self._config.match_timeout_s)
        if reply is None:
            self.fallback_matches += 1
            return local
        merged = _parse_counts(reply)
        for endpoint, count in local.items():
            if count > merged.get(endpoint, 0):
                merged[endpoint] = count
        return merged

    async def record(self, endpoint: str, model: str, hashes: Sequence[int]) -> None:
        if not hashes:
            return
        await self._replay_clears()
        # Blocks recorded before Redis last came back may never have reached it.
        max_age = min(self._config.refresh_interval_s, time.monotonic() - self._recovered_at)
        stale = self._local.stale(endpoint, model, hashes, max_age) if max_age > 0 else hashes
        await self._local.record(endpoint, model, hashes)
        if not stale:
            return
        args = (
            self._keys.model(model),
            endpoint,
            _hex(stale),
            self._ttl_ms,
            str(self._config.capacity),
            self._keys.endpoint_models(endpoint),
            escape(model),
        )
        await self._write(self._record, args)

    async def remove(self, endpoint: str, model: str, hashes: Sequence[int]) -> None:
        await self._local.remove(endpoint, model, hashes)
        if not hashes:
            return
        await self._replay_clears()
        args = (self._keys.endpoint_blocks(model, endpoint), _hex(hashes))
        await self._write(self._remove, args)

    async def clear(self, endpoint: str) -> None:
        await self._local.clear(endpoint)
        self._pending_clears.discard(endpoint)
        if not await self._clear_remote(endpoint):
            self._remember_clear(endpoint)

    def stats(self) -> IndexStats:
        local = self._local.stats()
        return IndexStats(
            entries=local.entries,
            endpoints=local.endpoints,
            evictions=local.evictions,
            expirations=local.expirations,
            remote_available=self.remote_available,
            remote_errors=self.remote_errors,
            fallback_matches=self.fallback_matches,
            skipped_remote_writes=self.skipped_remote_writes,
        )

    async def close(self) -> None:
        await self._local.close()
        if self._owns_client:
            await self._client.aclose()

    async def _write(self, script: AsyncScript, args: Sequence[str]) -> None:
        if await self._call(script, args, self._config.write_timeout_s) is None:
            self.skipped_remote_writes += 1

    async def _clear_remote(self, endpoint: str) -> bool:
        """Forget the endpoint in Redis; False if Redis could not be reached."""
        args = (self._config.key_prefix, endpoint)
        return await self._call(self._clear, args, self._config.clear_timeout_s) is not None

    def _remember_clear(self, endpoint: str) -> None:
        if len(self._pending_clears) < _MAX_PENDING_CLEARS:
            self._pending_clears.add(endpoint)
        else:
            logger.warning("prefix index: too many pending clears, %s left to the TTL", endpoint)

    async def _replay_clears(self) -> None:
        while self._pending_clears and self._breaker.available:
            endpoint = self._pending_clears.pop()
            if not await self._clear_remote(endpoint):
                self._remember_clear(endpoint)

    async def _call(
        self, script: AsyncScript, args: Sequence[str], timeout_s: float
    ) -> object | None:
        """The script's reply, or None when Redis is unavailable (breaker open or failed)."""
        if not self._breaker.allow():
            return None
        try:
            async with asyncio.timeout(timeout_s):
                reply: object = await script(args=args)
        # TimeoutError (ours or the socket's) is an OSError; RedisError covers the rest.
        except (RedisError, OSError) as exc:
            self.remote_errors += 1
            was_available = self._breaker.available
            self._breaker.failure()
            if was_available:
                logger.warning(
                    "prefix index: Redis unavailable, answering from local state: %r", exc
                )
            return None
        finally:
            self._breaker.release()
        if not self._breaker.available:
            self._recovered_at = time.monotonic()
            logger.info("prefix index: Redis reachable again")
        self._breaker.success()
        return reply


def _hex(hashes: Sequence[int]) -> str:
    """16 hex digits per hash, concatenated: compact to send and cheap to slice in Lua."""
    return struct.pack(f">{len(hashes)}Q", *hashes).hex()


def _parse_counts(reply: object) -> dict[str, int]:
    if not isinstance(reply, list):
        return {}
    counts: dict[str, int] = {}
    for endpoint, count in zip(reply[::2], reply[1::2], strict=True):
        name = endpoint.decode() if isinstance(endpoint, bytes) else str(endpoint)
        counts[name] = int(count)
    return counts

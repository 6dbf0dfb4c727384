"""Audit records appended to a Redis (or Valkey) stream, bounded with `XADD MAXLEN ~ N`.

One pipelined round trip per batch (no transaction), under its own timeout. Each entry has
two fields: `request_id` and `record` (the JSON document). The approximate trim keeps the
stream at about `max_len` entries, whatever the consumers do; read it with `XREAD` or a
consumer group. Redis being down or slow never reaches a request: the queued sink in front
drops and counts what cannot be written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from gateway.governance.interfaces import BatchWriter, SinkError
from gateway.governance.record import AuditRecord


class RedisStreamWriter(BatchWriter):
    def __init__(
        self,
        client: Redis,
        key: str,
        *,
        max_len: int = 100_000,
        timeout_s: float = 0.5,
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self._key = key
        self._max_len = max_len
        self._timeout_s = timeout_s
        self._owns_client = owns_client

    @classmethod
    def from_url(
        cls,
        url: str,
        key: str,
        *,
        max_len: int = 100_000,
        timeout_s: float = 0.5,
        connect_timeout_s: float = 0.5,
    ) -> RedisStreamWriter:
        """A writer owning its client. A connection error is retried once at once (after a
        Redis restart the pooled connection is dead); a timeout is not."""
        client = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=connect_timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            max_connections=2,  # one writer task: one connection in use at a time
        )
        return cls(client, key, max_len=max_len, timeout_s=timeout_s, owns_client=True)

    @property
    def name(self) -> str:
        return "redis-stream"

    async def write(self, records: Sequence[AuditRecord]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for record in records:
            fields: dict[FieldT, EncodableT] = {
                "request_id": record.request_id,
                "record": record.to_json(),
            }
            pipe.xadd(self._key, fields, maxlen=self._max_len, approximate=True)
        try:
            async with asyncio.timeout(self._timeout_s):
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            raise SinkError(f"XADD {self._key} failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

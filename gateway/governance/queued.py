"""A bounded queue in front of a `BatchWriter`, drained by one task the sink owns.

`record` appends to the queue and returns: the request never waits for I/O. When the queue
is full the record is dropped and counted (`queue_full`). The task writes batches of up to
`batch_size`, lingering up to `linger_s` after the first record of a batch so that records
arriving one by one are written together (one thread hop or round trip per batch, not per
record); a batch the writer fails is dropped and counted (`error`) — delivery is at
most once, so a timed-out write that did land is not written twice — and the task backs
off (doubling, capped) while new records keep queueing up to the bound. `aclose` lets the
task write what is queued within `flush_timeout_s`; what is left then is dropped and
counted (`shutdown`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from gateway.governance.interfaces import AuditSink, BatchWriter, SinkError
from gateway.governance.record import AuditRecord
from gateway.governance.stats import SinkStats

logger = logging.getLogger(__name__)

DROP_REASONS = ("queue_full", "error", "shutdown")


class QueuedSink(AuditSink):
    def __init__(
        self,
        writer: BatchWriter,
        *,
        capacity: int = 10000,
        batch_size: int = 256,
        flush_timeout_s: float = 5.0,
        linger_s: float = 0.05,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.writer = writer
        self._capacity = capacity
        self._batch_size = batch_size
        self._flush_timeout_s = flush_timeout_s
        self._linger_s = linger_s
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._queue: deque[AuditRecord] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stats = SinkStats()

    @property
    def name(self) -> str:
        return self.writer.name

    def stats(self) -> SinkStats:
        self._stats.queued = len(self._queue)
        return self._stats

    def record(self, record: AuditRecord) -> None:
        if self._closing or len(self._queue) >= self._capacity:
            self._stats.dropped["shutdown" if self._closing else "queue_full"] += 1
            return
        self._queue.append(record)
        self._idle.clear()
        if len(self._queue) == 1 or len(self._queue) >= self._batch_size:
            self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"kvgate-audit-{self.name}")

    async def drained(self) -> None:
        """Wait until everything queued so far was written or dropped (tests, shutdown)."""
        await self._idle.wait()

    async def aclose(self) -> None:
        self._closing = True
        self._stop.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                async with asyncio.timeout(self._flush_timeout_s):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._drop_queued("shutdown")
        await self.writer.aclose()

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            if not self._queue:
                self._idle.set()
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if backoff:
                if self._closing:  # the destination is failing: do not hold up shutdown
                    self._drop_queued("shutdown")
                    return
                await self._sleep(backoff)
            elif len(self._queue) < self._batch_size and self._linger_s:
                await self._linger()
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            if await self._write(batch):
                backoff = 0.0
            else:
                backoff = min(self._max_backoff_s, max(self._initial_backoff_s, 2 * backoff))

    async def _write(self, batch: list[AuditRecord]) -> bool:
        try:
            await self.writer.write(batch)
        except SinkError as exc:
            self._stats.dropped["error"] += len(batch)
            logger.warning(
                "audit sink %s: %d records dropped: %s", self.name, len(batch), exc.__cause__ or exc
            )
            return False
        self._stats.written += len(batch)
        return True

    async def _linger(self) -> None:
        """Until the batch is full, the sink closes, or `linger_s` passed."""
        self._wake.clear()
        if len(self._queue) >= self._batch_size or self._closing:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._linger_s):
                await self._wake.wait()

    async def _sleep(self, seconds: float) -> None:
        """Back off, but wake up at once when the sink starts closing."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()

    def _drop_queued(self, reason: str) -> None:
        if self._queue:
            self._stats.dropped[reason] += len(self._queue)
            self._queue.clear()
        self._idle.set()

"""The precise prefix source: a ZMQ subscriber to one engine's KV-cache events.

vLLM publishes with `--kv-events-config '{"enable_kv_cache_events": true, "publisher":
"zmq", "endpoint": "tcp://*:5557", "topic": "kv-events"}'`; the gateway connects a SUB
socket to `tcp://<engine-host>:5557`. ZMQ reconnects by itself when the engine restarts
(the sequence number then starts again, which the tracker treats as a gap). Frames are
decoded by `kv_wire` and applied by a `KVEventTracker`; see those modules for the format
and the limitations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import zmq
import zmq.asyncio

from gateway.prefix.kv_tracker import KVEventStats, KVEventTracker
from gateway.prefix.kv_wire import MalformedMessage, decode_payload, split_frames

logger = logging.getLogger(__name__)


class KVEventSubscriber:
    """Owns one SUB socket and one task feeding one engine's events to its tracker.

    `address` is the engine's publisher (`tcp://host:port`); `topic` the topic prefix to
    subscribe to ("" for all). The task polls with `poll_interval_s` so `stop` takes
    effect within that time. A message above `max_message_bytes` makes ZMQ drop the
    connection (it reconnects; what was lost shows up as a sequence gap), and at most
    `receive_hwm` messages wait in the socket before ZMQ drops new ones (also a gap).
    `context` is shared if given (each context runs an I/O thread: give all subscribers
    the lifespan's one and terminate it after stopping them); otherwise the subscriber
    makes and destroys its own. Call `start` once, then `stop` once; both from the loop.
    """

    def __init__(
        self,
        address: str,
        tracker: KVEventTracker,
        *,
        topic: str = "",
        context: zmq.asyncio.Context | None = None,
        poll_interval_s: float = 0.25,
        receive_hwm: int = 10_000,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.address = address
        self._tracker = tracker
        self._topic = topic.encode()
        self._owns_context = context is None
        self._context = context or zmq.asyncio.Context()
        self._poll_ms = max(1, round(poll_interval_s * 1000))
        self._receive_hwm = receive_hwm
        self._max_message_bytes = max_message_bytes
        self._socket: zmq.asyncio.Socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._warned_malformed = False

    @property
    def stats(self) -> KVEventStats:
        return self._tracker.stats

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("KVEventSubscriber.start() called twice")
        sock = self._context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, self._receive_hwm)
        sock.setsockopt(zmq.MAXMSGSIZE, self._max_message_bytes)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        sock.setsockopt(zmq.SUBSCRIBE, self._topic)
        sock.connect(self.address)
        self._socket = sock
        self._task = asyncio.create_task(
            self._run(sock), name=f"kv-events:{self._tracker.endpoint}"
        )
        self._task.add_done_callback(self._log_crash)
        logger.info("kv events: subscribed to %s for %s", self.address, self._tracker.endpoint)

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Finish the message in hand, then close; cancels the task after `timeout_s`.

        Messages still queued in the socket are dropped: after a stop the endpoint's state
        is unknown anyway, and the caller clears it if the endpoint is leaving.
        """
        self._stopping.set()
        task = self._task
        if task is not None:
            _, pending = await asyncio.wait({task}, timeout=timeout_s)
            if pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        if self._owns_context:
            self._context.destroy(linger=0)

    async def _run(self, sock: zmq.asyncio.Socket) -> None:
        while not self._stopping.is_set():
            if not await sock.poll(timeout=self._poll_ms):
                continue
            async with asyncio.timeout(self._poll_ms / 1000):
                frames = await sock.recv_multipart()
            await self._handle(frames)
            # A busy publisher keeps the socket readable, and a ready poll does not
            # suspend: yield so a burst of events cannot starve the requests.
            await asyncio.sleep(0)

    async def _handle(self, frames: list[bytes]) -> None:
        try:
            seq, payload = split_frames(frames)
        except MalformedMessage as exc:
            self._malformed(exc)
            return
        try:
            batch = decode_payload(seq, payload)
        except MalformedMessage as exc:
            # The sequence number is intact: skip this one message without reporting the
            # next as a gap (which would clear the endpoint on every unreadable message).
            self._malformed(exc)
            await self._tracker.skip(seq)
            return
        await self._tracker.apply(batch)

    def _malformed(self, exc: MalformedMessage) -> None:
        self.stats.malformed_messages += 1
        log = logger.debug if self._warned_malformed else logger.warning
        self._warned_malformed = True
        log("kv events: malformed message from %s skipped: %s", self.address, exc)

    def _log_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "kv events: subscriber for %s stopped",
                self._tracker.endpoint,
                exc_info=task.exception(),
            )

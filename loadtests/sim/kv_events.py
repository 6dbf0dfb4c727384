"""KV-cache events on a ZMQ PUB socket, byte-compatible with vLLM's `--kv-events-config`.

Wire format (vLLM `vllm/distributed/kv_events.py`, `ZmqEventPublisher`): multipart
`[topic, seq as 8-byte big-endian, msgpack payload]`; the payload is `KVEventBatch` encoded by
msgspec with `array_like=True`, i.e. `[ts, [event, ...], data_parallel_rank]`.

Events come in two encodings, chosen by our `"encoding"` key in the config JSON:
- `"array"` (vLLM v0.11: `KVCacheEvent(msgspec.Struct, array_like=True, omit_defaults=True,
  tag=True)`): positional, the tag first —
  `["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium]`,
  `["BlockRemoved", block_hashes, medium]`, `["AllBlocksCleared"]`;
- `"map"` (vLLM v0.26+, where `KVCacheEvent` dropped `array_like` but the batch kept it):
  maps tagged with `"type"` — `{"type": "BlockStored", "block_hashes", "parent_block_hash",
  "token_ids", "block_size", "lora_id", "medium", "lora_name", "group_idx",
  "kv_cache_spec_kind"}`, `{"type": "BlockRemoved", "block_hashes", "medium", "group_idx"}`,
  `{"type": "AllBlocksCleared"}` (as seen on the wire from v0.26.0, volcano-sh/kthena#1535).

Sending never blocks the engine loop: the socket is a PUB (ZMQ drops, never blocks, for a slow
subscriber at the high-water mark) and every send is `NOBLOCK`; a send that still fails is
counted in `dropped`. Without a subscriber, PUB discards messages — as vLLM's does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import msgpack
import zmq
import zmq.asyncio

from loadtests.sim.engine.types import (
    AllBlocksCleared,
    BlockRemoved,
    BlockStored,
    KVEvent,
    KVEventBatch,
)

logger = logging.getLogger(__name__)

Encoding = Literal["array", "map"]

_KNOWN_KEYS = {
    "enable_kv_cache_events",
    "publisher",
    "endpoint",
    "replay_endpoint",
    "buffer_steps",
    "hwm",
    "max_queue_size",
    "topic",
    "encoding",
    "bind_host",
}


class KVEventsConfigError(ValueError):
    """The `--kv-events-config` JSON is malformed or names an unsupported option."""


@dataclass(frozen=True)
class KVEventsSettings:
    """vLLM's `KVEventsConfig` plus two keys of ours.

    `encoding` picks the event encoding; `bind_host` is the interface a wildcard endpoint
    (`tcp://*:P`) binds to — loopback unless set explicitly (e.g. `"0.0.0.0"`).
    """

    enabled: bool = False
    publisher: str = "zmq"
    endpoint: str = "tcp://*:5557"
    topic: str = ""
    encoding: Encoding = "array"
    bind_host: str = "127.0.0.1"
    hwm: int = 100_000
    replay_endpoint: str | None = None
    buffer_steps: int = 10_000
    data_parallel_rank: int = 0

    @classmethod
    def from_json(cls, text: str) -> KVEventsSettings:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KVEventsConfigError(f"--kv-events-config is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise KVEventsConfigError("--kv-events-config must be a JSON object")
        return cls.from_mapping(raw)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object]) -> KVEventsSettings:
        unknown = set(raw) - _KNOWN_KEYS
        if unknown:
            raise KVEventsConfigError(f"unknown --kv-events-config keys: {sorted(unknown)}")
        encoding = raw.get("encoding", "array")
        if encoding not in ("array", "map"):
            raise KVEventsConfigError('"encoding" must be "array" or "map"')
        publisher = str(raw.get("publisher", "zmq"))
        if publisher not in ("zmq", "null"):
            raise KVEventsConfigError(f"unsupported publisher {publisher!r} (zmq or null)")
        hwm = _count(raw, "hwm", 100_000)
        buffer_steps = _count(raw, "buffer_steps", 10_000)
        replay = raw.get("replay_endpoint")
        if replay is not None and not isinstance(replay, str):
            raise KVEventsConfigError('"replay_endpoint" must be a string or null')
        return cls(
            enabled=bool(raw.get("enable_kv_cache_events", False)),
            publisher=publisher,
            endpoint=str(raw.get("endpoint", "tcp://*:5557")),
            topic=str(raw.get("topic", "")),
            encoding="map" if encoding == "map" else "array",
            bind_host=str(raw.get("bind_host", "127.0.0.1")),
            hwm=hwm,
            replay_endpoint=replay,
            buffer_steps=buffer_steps,
        )

    @property
    def active(self) -> bool:
        return self.enabled and self.publisher == "zmq"


def _count(raw: Mapping[str, object], key: str, default: int) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise KVEventsConfigError(f'"{key}" must be a non-negative integer')
    return value


def resolve_endpoint(endpoint: str, bind_host: str) -> tuple[Literal["bind", "connect"], str]:
    """vLLM's heuristic (bind on a wildcard, ipc or inproc; connect otherwise), but a `*` host
    binds `bind_host` so that nothing listens beyond loopback unless asked to."""
    if endpoint.startswith(("ipc://", "inproc://")) or "::" in endpoint:
        return "bind", endpoint
    if "*" in endpoint:
        return "bind", endpoint.replace("*", bind_host, 1)
    return "connect", endpoint


def encode_event(event: KVEvent, encoding: Encoding) -> list[object] | dict[str, object]:
    if encoding == "array":
        return _as_array(event)
    return _as_map(event)


def _as_array(event: KVEvent) -> list[object]:
    if isinstance(event, BlockStored):
        return [
            "BlockStored",
            list(event.block_hashes),
            event.parent_block_hash,
            list(event.token_ids),
            event.block_size,
            event.lora_id,
            event.medium,
        ]
    if isinstance(event, BlockRemoved):
        return ["BlockRemoved", list(event.block_hashes), event.medium]
    return ["AllBlocksCleared"]


def _as_map(event: KVEvent) -> dict[str, object]:
    if isinstance(event, BlockStored):
        return {
            "type": "BlockStored",
            "block_hashes": list(event.block_hashes),
            "parent_block_hash": event.parent_block_hash,
            "token_ids": list(event.token_ids),
            "block_size": event.block_size,
            "lora_id": event.lora_id,
            "medium": event.medium,
            "lora_name": event.lora_name,
            "group_idx": 0,
            "kv_cache_spec_kind": "full_attention",
        }
    if isinstance(event, BlockRemoved):
        return {
            "type": "BlockRemoved",
            "block_hashes": list(event.block_hashes),
            "medium": event.medium,
            "group_idx": 0,
        }
    assert isinstance(event, AllBlocksCleared)
    return {"type": "AllBlocksCleared"}


def encode_batch(
    events: Sequence[KVEvent], encoding: Encoding, *, timestamp: float, dp_rank: int = 0
) -> bytes:
    """The msgpack payload of one batch: `[ts, [events...], data_parallel_rank]`."""
    payload = [timestamp, [encode_event(event, encoding) for event in events], dp_rank]
    packed: bytes = msgpack.packb(payload, use_bin_type=True)
    return packed


class KVEventPublisher:
    """The engine's `KVEventSink`: publishes one batch per call, on the caller's thread.

    Owned by the app lifespan: `open()` before the engine starts, `close()` after it stops.
    Not thread-safe; call it from the event loop only (the engine loop runs there).
    `timestamp` on the wire is wall-clock `time.time()`, as vLLM's, not engine time.
    """

    def __init__(
        self, settings: KVEventsSettings, *, context: zmq.Context[zmq.Socket[bytes]]
    ) -> None:
        self._settings = settings
        self._context = context
        self._socket: zmq.Socket[bytes] | None = None
        self._topic = settings.topic.encode("utf-8")
        self.mode, self.address = resolve_endpoint(settings.endpoint, settings.bind_host)
        self.seq = 0  # the next sequence number; counts every batch, sent or not
        self.published = 0
        self.dropped = 0
        self._reopen_pending = False
        # The last batches for replay (as vLLM buffers them: even with nobody subscribed).
        self.buffer: deque[tuple[int, bytes]] | None = None
        if settings.replay_endpoint is not None:
            self.buffer = deque(maxlen=settings.buffer_steps)

    @property
    def is_open(self) -> bool:
        return self._socket is not None

    def open(self) -> None:
        if self._socket is not None:
            return
        sock: zmq.Socket[bytes] = self._context.socket(zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, self._settings.hwm)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            if self.mode == "bind":
                sock.bind(self.address)
            else:
                sock.connect(self.address)
        except zmq.ZMQError:
            sock.close(linger=0)
            raise
        self._socket = sock
        logger.info(
            "kv events: %s %s (encoding=%s)", self.mode, self.address, self._settings.encoding
        )

    def close(self) -> None:
        self._reopen_pending = False
        if self._socket is not None:
            # Unbind first: a bare close releases the port asynchronously, and an immediate
            # re-bind (the fault being switched off) could find it still in use.
            with contextlib.suppress(zmq.ZMQError):
                if self.mode == "bind":
                    self._socket.unbind(self.address)
                else:
                    self._socket.disconnect(self.address)
            self._socket.close(linger=0)
            self._socket = None

    def set_dropped(self, dropped: bool) -> None:
        """The `drop_kv_events` fault: close the socket, or open a fresh one (retried at the
        next batch if the address is not free yet)."""
        if dropped:
            self.close()
        elif not self._try_open():
            logger.warning("kv events: %s is not free yet; retrying at each batch", self.address)
            self._reopen_pending = True

    def _try_open(self) -> bool:
        try:
            self.open()
        except zmq.ZMQError:
            return False
        self._reopen_pending = False
        return True

    def __call__(self, batch: KVEventBatch) -> None:
        if not batch.events:
            return
        if self._reopen_pending:
            self._try_open()
        seq = self.seq
        self.seq += 1
        if self._socket is None and self.buffer is None:
            self.dropped += 1
            return
        payload = encode_batch(
            batch.events,
            self._settings.encoding,
            timestamp=time.time(),
            dp_rank=batch.data_parallel_rank or self._settings.data_parallel_rank,
        )
        if self.buffer is not None:
            self.buffer.append((seq, payload))
        if self._socket is None:
            self.dropped += 1
            return
        try:
            self._socket.send_multipart(
                (self._topic, seq.to_bytes(8, "big"), payload), flags=zmq.NOBLOCK, copy=True
            )
        except zmq.Again:
            self.dropped += 1
        except zmq.ZMQError as exc:
            self.dropped += 1
            logger.warning("kv events: send failed: %s", exc)
        else:
            self.published += 1


END_SEQ = (-1).to_bytes(8, "big", signed=True)


class KVEventReplay:
    """vLLM's replay service: a ROUTER socket that resends buffered batches on request.

    A client (REQ) sends a start sequence number as 8 big-endian bytes and receives
    `[seq, payload]` for every buffered batch from there, then `[END_SEQ, b""]`. Runs as one
    task owned by the app lifespan (`start` / `stop`).
    """

    def __init__(
        self,
        publisher: KVEventPublisher,
        endpoint: str,
        *,
        bind_host: str,
        context: zmq.Context[zmq.Socket[bytes]],
    ) -> None:
        self._publisher = publisher
        self._context = zmq.asyncio.Context.shadow(context)
        _, self.address = resolve_endpoint(endpoint, bind_host)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        socket = self._context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.bind(self.address)
        self._task = asyncio.create_task(self._serve(socket), name="kv-event-replay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _serve(self, socket: zmq.asyncio.Socket) -> None:
        try:
            while True:
                frames = await socket.recv_multipart()
                if len(frames) != 3:
                    logger.warning("kv events: bad replay request of %d frames", len(frames))
                    continue
                await self._reply(socket, frames[0], int.from_bytes(frames[2], "big"))
        finally:
            socket.close(linger=0)

    async def _reply(self, socket: zmq.asyncio.Socket, identity: bytes, start: int) -> None:
        # ROUTER drops rather than blocks for a peer at its high-water mark, so these
        # awaits never stall; they are awaits only because the socket is an asyncio one.
        for seq, payload in list(self._publisher.buffer or ()):
            if seq >= start:
                await socket.send_multipart((identity, b"", seq.to_bytes(8, "big"), payload))
        await socket.send_multipart((identity, b"", END_SEQ, b""))

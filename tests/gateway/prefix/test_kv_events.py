"""A real ZMQ PUB socket, sending what vLLM sends, and the gateway's subscriber."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import zmq
import zmq.asyncio

from gateway.prefix.hashing import block_hashes, prefix_seed
from gateway.prefix.kv_events import KVEventSubscriber
from gateway.prefix.kv_tracker import KVEventTracker
from gateway.prefix.memory import MemoryPrefixIndex
from tests.gateway.prefix.support import eventually
from tests.gateway.prefix.vllm_frames import (
    ENCODINGS,
    Event,
    cleared,
    encode_batch,
    frames,
    removed,
    stored,
)

MODEL = "Qwen/Qwen2.5-7B-Instruct"
EP = "engine-0"
PROMPT = list(range(7000, 7064))
GATEWAY = block_hashes(PROMPT, seed=prefix_seed(MODEL))
ENGINE = [0xA1, 0xA2, 0xA3, 0xA4]


class Engine:
    """The publishing side: a bound PUB socket with vLLM's framing and sequence numbers."""

    def __init__(self, context: zmq.asyncio.Context, encoding: str) -> None:
        self.socket = context.socket(zmq.PUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"tcp://127.0.0.1:{port}"
        self.encoding = encoding
        self.seq = -1

    async def publish(self, *events: Event) -> None:
        self.seq += 1
        await self.send_raw(frames(self.seq, encode_batch(events, self.encoding)))

    async def send_raw(self, message: list[bytes]) -> None:
        await self.socket.send_multipart(message)


class Setup:
    def __init__(self, engine: Engine, index: MemoryPrefixIndex, sub: KVEventSubscriber) -> None:
        self.engine, self.index, self.subscriber = engine, index, sub

    async def held(self) -> int:
        return (await self.index.match(MODEL, GATEWAY)).get(EP, 0)

    async def connected(self) -> None:
        """Publish empty batches until one arrives (a PUB drops messages before the
        subscription reaches it)."""

        async def received() -> bool:
            if self.subscriber.stats.batches:
                return True
            await self.engine.publish()
            return False

        await eventually(received)


@pytest.fixture(params=ENCODINGS)
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    context = zmq.asyncio.Context()
    engine = Engine(context, request.param)
    index = MemoryPrefixIndex()
    tracker = KVEventTracker(EP, index, model=MODEL)
    subscriber = KVEventSubscriber(
        engine.address, tracker, topic="kv-events", context=context, poll_interval_s=0.05
    )
    await subscriber.start()
    ready = Setup(engine, index, subscriber)
    try:
        await ready.connected()
        yield ready
    finally:
        await subscriber.stop()
        engine.socket.close(linger=0)
        context.term()


async def test_stored_removed_and_cleared(setup: Setup) -> None:
    await setup.engine.publish(stored(ENGINE[:2], None, PROMPT[:32]))
    await setup.engine.publish(stored(ENGINE[2:], ENGINE[1], PROMPT[32:]))
    await eventually(_equals(setup.held, 4))

    await setup.engine.publish(removed([ENGINE[2]]))
    await eventually(_equals(setup.held, 2))

    await setup.engine.publish(cleared())
    await eventually(_equals(setup.held, 0))
    assert setup.subscriber.stats.clears == 1
    assert setup.subscriber.stats.gaps == 0


async def test_unknown_parents_and_malformed_messages_are_counted(setup: Setup) -> None:
    await setup.engine.publish(stored(ENGINE[2:], 12345, PROMPT[32:]))
    setup.engine.seq += 1
    await setup.engine.send_raw(frames(setup.engine.seq, b"\xc1 not msgpack"))
    await setup.engine.send_raw([b"kv-events", b"short"])
    await setup.engine.publish(stored(ENGINE, None, PROMPT))
    await eventually(_equals(setup.held, 4))
    stats = setup.subscriber.stats
    assert stats.unknown_parent_blocks == 2
    assert stats.malformed_messages == 2
    assert stats.gaps == 0  # an unreadable payload still advances the sequence
    assert setup.subscriber.running


async def test_sequence_gap_is_detected(setup: Setup) -> None:
    await setup.engine.publish(stored(ENGINE, None, PROMPT))
    await eventually(_equals(setup.held, 4))
    setup.engine.seq += 3  # three batches lost
    await setup.engine.publish()
    await eventually(_equals(setup.held, 0))
    assert setup.subscriber.stats.gaps == 1


async def test_other_topics_are_not_received(setup: Setup) -> None:
    payload = encode_batch([stored(ENGINE, None, PROMPT)], setup.engine.encoding)
    await setup.engine.send_raw(frames(10**6, payload, topic=b"other"))
    await setup.engine.publish(stored(ENGINE[:1], None, PROMPT[:16]))
    await eventually(_equals(setup.held, 1))
    assert setup.subscriber.stats.gaps == 0


async def test_stop_is_prompt_and_start_twice_fails() -> None:
    index = MemoryPrefixIndex()
    tracker = KVEventTracker(EP, index, model=MODEL)
    subscriber = KVEventSubscriber("tcp://127.0.0.1:9", tracker, poll_interval_s=0.05)
    await subscriber.start()
    assert subscriber.running
    with pytest.raises(RuntimeError, match="twice"):
        await subscriber.start()
    await subscriber.stop()
    assert not subscriber.running


def _equals(probe: Callable[[], Awaitable[int]], expected: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await probe() == expected

    return check

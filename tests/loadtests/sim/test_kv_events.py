"""KV-event encoding and the ZMQ publisher, against a real SUB socket on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import msgpack
import pytest
import zmq
import zmq.asyncio

from loadtests.fleet import free_port
from loadtests.sim.engine.types import (
    AllBlocksCleared,
    BlockRemoved,
    BlockStored,
    KVEvent,
    KVEventBatch,
)
from loadtests.sim.kv_events import (
    END_SEQ,
    KVEventPublisher,
    KVEventReplay,
    KVEventsConfigError,
    KVEventsSettings,
    encode_batch,
    encode_event,
    resolve_endpoint,
)

STORED = BlockStored(
    block_hashes=[2**64 - 1, 7],
    parent_block_hash=None,
    token_ids=list(range(32)),
    block_size=16,
    lora_id=3,
    medium="GPU",
    lora_name="sql-lora",
)
REMOVED = BlockRemoved(block_hashes=[7])
EVENTS: list[KVEvent] = [STORED, REMOVED, AllBlocksCleared()]


def test_array_encoding_is_vllm_v0_11_positional() -> None:
    assert [encode_event(e, "array") for e in EVENTS] == [
        ["BlockStored", [2**64 - 1, 7], None, list(range(32)), 16, 3, "GPU"],
        ["BlockRemoved", [7], "GPU"],
        ["AllBlocksCleared"],
    ]


def test_map_encoding_is_tagged_with_type() -> None:
    stored, removed, cleared = (encode_event(e, "map") for e in EVENTS)
    assert stored == {
        "type": "BlockStored",
        "block_hashes": [2**64 - 1, 7],
        "parent_block_hash": None,
        "token_ids": list(range(32)),
        "block_size": 16,
        "lora_id": 3,
        "medium": "GPU",
        "lora_name": "sql-lora",
        "group_idx": 0,
        "kv_cache_spec_kind": "full_attention",
    }
    assert removed == {"type": "BlockRemoved", "block_hashes": [7], "medium": "GPU", "group_idx": 0}
    assert cleared == {"type": "AllBlocksCleared"}


@pytest.mark.parametrize("encoding", ["array", "map"])
def test_batch_payload_is_ts_events_rank(encoding: str) -> None:
    payload = msgpack.unpackb(encode_batch(EVENTS, encoding, timestamp=12.5))  # type: ignore[arg-type]
    assert payload[0] == 12.5
    assert payload[1] == [encode_event(e, encoding) for e in EVENTS]  # type: ignore[arg-type]
    assert payload[2] == 0


@pytest.mark.parametrize(
    ("endpoint", "bind_host", "expected"),
    [
        pytest.param("tcp://*:5557", "127.0.0.1", ("bind", "tcp://127.0.0.1:5557"), id="wild"),
        pytest.param("tcp://*:5557", "0.0.0.0", ("bind", "tcp://0.0.0.0:5557"), id="explicit"),
        pytest.param("tcp://10.0.0.1:5557", "127.0.0.1", ("connect", "tcp://10.0.0.1:5557"),
                     id="connect"),
        pytest.param("ipc:///tmp/kv", "127.0.0.1", ("bind", "ipc:///tmp/kv"), id="ipc"),
    ],
)  # fmt: skip
def test_endpoint_resolution_binds_loopback_by_default(
    endpoint: str, bind_host: str, expected: tuple[str, str]
) -> None:
    assert resolve_endpoint(endpoint, bind_host) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{", id="not-json"),
        pytest.param("[]", id="not-object"),
        pytest.param('{"encoding": "yaml"}', id="bad-encoding"),
        pytest.param('{"publisher": "kafka"}', id="bad-publisher"),
        pytest.param('{"frobnicate": 1}', id="unknown-key"),
    ],
)
def test_bad_config_is_rejected(text: str) -> None:
    with pytest.raises(KVEventsConfigError):
        KVEventsSettings.from_json(text)


def test_config_accepts_vllm_keys() -> None:
    settings = KVEventsSettings.from_json(
        '{"enable_kv_cache_events": true, "publisher": "zmq", "endpoint": "tcp://*:6000",'
        ' "topic": "kv-events", "replay_endpoint": null, "buffer_steps": 10, "hwm": 5,'
        ' "encoding": "map"}'
    )
    assert settings.active
    assert (settings.endpoint, settings.topic, settings.encoding, settings.hwm) == (
        "tcp://*:6000",
        "kv-events",
        "map",
        5,
    )
    assert not KVEventsSettings.from_json('{"enable_kv_cache_events": false}').active


@pytest.fixture
def context() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield ctx
    ctx.term()


def receive_until(
    sub: zmq.Socket[bytes], publish: KVEventPublisher, batch: KVEventBatch
) -> list[bytes]:
    """Publish until the subscription has propagated (ZMQ's slow joiner), return one message."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        publish(batch)
        if sub.poll(50):
            return sub.recv_multipart()
    raise AssertionError("nothing received")


@pytest.mark.parametrize("encoding", ["array", "map"])
def test_publisher_round_trip_over_zmq(
    context: zmq.Context[zmq.Socket[bytes]], encoding: str
) -> None:
    port = free_port()
    settings = KVEventsSettings.from_mapping(
        {"enable_kv_cache_events": True, "endpoint": f"tcp://*:{port}", "topic": "kv",
         "encoding": encoding}
    )  # fmt: skip
    publisher = KVEventPublisher(settings, context=context)
    publisher.open()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"kv")
    sub.connect(f"tcp://127.0.0.1:{port}")
    try:
        topic, seq, payload = receive_until(sub, publisher, KVEventBatch(1.0, EVENTS))
        first = int.from_bytes(seq, "big")
        publisher(KVEventBatch(2.0, [REMOVED]))
        assert sub.poll(5000)
        _, next_seq, next_payload = sub.recv_multipart()
    finally:
        sub.close(linger=0)
        publisher.close()
    assert topic == b"kv"
    assert len(seq) == 8
    assert int.from_bytes(next_seq, "big") == first + 1
    timestamp, events, rank = msgpack.unpackb(payload)
    assert isinstance(timestamp, float)
    assert time.time() - 60 < timestamp <= time.time()  # wall clock, as vLLM's
    assert rank == 0
    assert events == [encode_event(e, encoding) for e in EVENTS]  # type: ignore[arg-type]
    assert msgpack.unpackb(next_payload)[1] == [encode_event(REMOVED, encoding)]  # type: ignore[arg-type]
    assert publisher.published >= 2


def test_dropped_socket_counts_batches_and_keeps_sequence_numbers(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    settings = KVEventsSettings(enabled=True, endpoint=f"tcp://*:{free_port()}")
    publisher = KVEventPublisher(settings, context=context)
    publisher.open()
    publisher(KVEventBatch(1.0, [REMOVED]))
    publisher.set_dropped(True)
    assert not publisher.is_open
    publisher(KVEventBatch(2.0, [REMOVED]))
    publisher(KVEventBatch(3.0, []))  # empty batches are not batches
    assert (publisher.seq, publisher.published, publisher.dropped) == (2, 1, 1)
    publisher.set_dropped(False)  # the port may still be closing: retried at each batch
    deadline = time.monotonic() + 10
    while publisher.published < 2 and time.monotonic() < deadline:
        publisher(KVEventBatch(4.0, [REMOVED]))
    publisher.close()
    assert publisher.published == 2
    assert publisher.seq == publisher.published + publisher.dropped


async def test_replay_resends_buffered_batches(context: zmq.Context[zmq.Socket[bytes]]) -> None:
    replay_port = free_port()
    settings = KVEventsSettings.from_mapping(
        {
            "enable_kv_cache_events": True,
            "endpoint": f"tcp://*:{free_port()}",
            "replay_endpoint": f"tcp://*:{replay_port}",
            "buffer_steps": 2,
        }
    )
    publisher = KVEventPublisher(settings, context=context)
    publisher.set_dropped(True)  # nobody hears the PUB side; replay still has the batches
    for timestamp in (1.0, 2.0, 3.0):
        publisher(KVEventBatch(timestamp, [REMOVED]))
    replay = KVEventReplay(
        publisher, settings.replay_endpoint or "", bind_host="127.0.0.1", context=context
    )
    await replay.start()
    # A DEALER, not vLLM's example REQ: a REQ socket accepts only one reply per request.
    client = zmq.asyncio.Context.shadow(context).socket(zmq.DEALER)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(f"tcp://127.0.0.1:{replay_port}")
    try:
        await client.send_multipart((b"", (0).to_bytes(8, "big")))
        replies = []
        while True:
            empty, seq, payload = await asyncio.wait_for(client.recv_multipart(), 5)
            assert empty == b""
            if seq == END_SEQ:
                assert payload == b""
                break
            replies.append((int.from_bytes(seq, "big"), msgpack.unpackb(payload)[1]))
    finally:
        client.close(linger=0)
        await replay.stop()
    assert replies == [(1, [["BlockRemoved", [7], "GPU"]]), (2, [["BlockRemoved", [7], "GPU"]])]
    assert publisher.dropped == 3

from __future__ import annotations

import msgpack
import pytest

from gateway.prefix.kv_wire import (
    AllBlocksCleared,
    BlockRemoved,
    BlockStored,
    MalformedMessage,
    decode_message,
)
from tests.gateway.prefix.vllm_frames import (
    ENCODINGS,
    cleared,
    encode_batch,
    frames,
    removed,
    stored,
)

TOKENS = list(range(32))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_decodes_every_event_type(encoding: str) -> None:
    payload = encode_batch(
        [stored([11, 12], None, TOKENS, lora_id=3), removed([11]), cleared()], encoding
    )
    batch = decode_message(frames(7, payload))
    assert batch.seq == 7
    assert batch.ts == 1.5
    assert batch.unknown_events == 0
    first, second, third = batch.events
    assert isinstance(first, BlockStored)
    assert list(first.block_hashes) == [11, 12]
    assert first.parent_block_hash is None
    assert list(first.token_ids) == TOKENS
    assert (first.block_size, first.lora_id) == (16, 3)
    assert second == BlockRemoved([11], None if encoding == "array-v0.8" else "GPU")
    assert third == AllBlocksCleared()


@pytest.mark.parametrize("encoding", ["array-lora-name", "map"])
def test_newer_fields(encoding: str) -> None:
    payload = encode_batch([stored([1], 9, TOKENS[:16], lora_name="sql", medium="CPU")], encoding)
    (event,) = decode_message(frames(0, payload)).events
    assert isinstance(event, BlockStored)
    assert (event.parent_block_hash, event.lora_name, event.medium) == (9, "sql", "CPU")


def test_map_events_may_carry_extra_keys_and_unknown_fields() -> None:
    event = stored([1], None, TOKENS[:16], extra_keys=[["salt"]], group_idx=0, new_field=1)
    (decoded,) = decode_message(frames(0, encode_batch([event], "map"))).events
    assert isinstance(decoded, BlockStored)
    assert decoded.extra_keys == [["salt"]]


def test_bytes_hashes_are_accepted() -> None:
    digest = bytes(range(32))
    payload = encode_batch([stored([digest], digest[::-1], TOKENS[:16])], "map")
    (event,) = decode_message(frames(0, payload)).events
    assert isinstance(event, BlockStored)
    assert (event.block_hashes[0], event.parent_block_hash) == (digest, digest[::-1])


@pytest.mark.parametrize("encoding", ["array-v0.11", "map"])
def test_unknown_event_types_are_counted(encoding: str) -> None:
    unknown = {"type": "TransferInitiated", "transfer_id": 1}
    payload = encode_batch([unknown, cleared()], encoding)
    batch = decode_message(frames(0, payload))
    assert batch.unknown_events == 1
    assert batch.events == [AllBlocksCleared()]


GOOD = encode_batch([cleared()], "map")


@pytest.mark.parametrize(
    "message",
    [
        pytest.param([b"t", (0).to_bytes(8, "big")], id="two-frames"),
        pytest.param([b"t", b"\x00", GOOD], id="short-seq"),
        pytest.param(frames(0, b"\xc1"), id="not-msgpack"),
        pytest.param(frames(0, GOOD + b"\x00"), id="trailing-bytes"),
        pytest.param(frames(0, msgpack.packb("hello")), id="batch-not-array-or-map"),
        pytest.param(frames(0, msgpack.packb([1.0])), id="batch-too-short"),
        pytest.param(frames(0, msgpack.packb(["ts", []])), id="ts-not-number"),
        pytest.param(frames(0, msgpack.packb({"ts": 1.0})), id="map-without-events"),
        pytest.param(frames(0, msgpack.packb([1.0, [42]])), id="event-not-array-or-map"),
        pytest.param(frames(0, msgpack.packb([1.0, [{"kind": "X"}]])), id="map-without-type"),
        pytest.param(
            frames(0, encode_batch([stored([1, 2], None, TOKENS[:20])], "map")),
            id="token-count-mismatch",
        ),
        pytest.param(
            frames(0, encode_batch([stored([1], None, [*TOKENS[:15], "x"])], "map")),
            id="token-not-int",
        ),
        pytest.param(
            frames(0, encode_batch([stored([1], None, [*TOKENS[:15], 1.5])], "map")),
            id="token-float",
        ),
        pytest.param(
            frames(0, encode_batch([stored([1], None, [*TOKENS[:15], [1]])], "map")),
            id="token-list",
        ),
        pytest.param(
            frames(0, encode_batch([stored(["h"], None, TOKENS[:16])], "map")),
            id="hash-not-int",
        ),
        pytest.param(
            frames(0, encode_batch([stored([1], 1.5, TOKENS[:16])], "map")),
            id="parent-float",
        ),
        pytest.param(
            frames(0, encode_batch([stored([1], None, TOKENS[:16], block_size=0)], "map")),
            id="block-size-zero",
        ),
        pytest.param(
            frames(0, encode_batch([{"type": "BlockRemoved", "block_hashes": 5}], "map")),
            id="removed-hashes-not-list",
        ),
        pytest.param(
            frames(0, msgpack.packb([1.0, [["BlockStored", [1]]]])), id="positional-too-short"
        ),
    ],
)
def test_malformed_messages_raise(message: list[bytes]) -> None:
    with pytest.raises(MalformedMessage):
        decode_message(message)

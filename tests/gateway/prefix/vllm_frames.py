"""KV-event messages shaped exactly as vLLM's ZmqEventPublisher sends them.

Events are described as maps with a "type" tag and vLLM's field names; `encode_batch`
lays them out in one of the encodings vLLM has shipped (see gateway.prefix.kv_wire).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgpack

# Positional field order per release, after the tag (vLLM's msgspec struct field order).
_STORED_V0_8 = ("block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id")
_STORED_V0_11 = (*_STORED_V0_8, "medium")
_STORED_LATER = (*_STORED_V0_11, "lora_name")
_REMOVED_V0_8 = ("block_hashes",)
_REMOVED = ("block_hashes", "medium")

ENCODINGS = ("array-v0.8", "array-v0.11", "array-lora-name", "map")

Event = dict[str, object]


def stored(
    block_hashes: Sequence[object],
    parent: object,
    token_ids: Sequence[object],
    *,
    block_size: int = 16,
    lora_id: int | None = None,
    lora_name: str | None = None,
    medium: str | None = "GPU",
    **extra: object,
) -> Event:
    return {
        "type": "BlockStored",
        "block_hashes": list(block_hashes),
        "parent_block_hash": parent,
        "token_ids": list(token_ids),
        "block_size": block_size,
        "lora_id": lora_id,
        "medium": medium,
        "lora_name": lora_name,
        **extra,
    }


def removed(block_hashes: Sequence[int | bytes], medium: str | None = "GPU") -> Event:
    return {"type": "BlockRemoved", "block_hashes": list(block_hashes), "medium": medium}


def cleared() -> Event:
    return {"type": "AllBlocksCleared"}


def _positional(event: Event, encoding: str) -> list[object]:
    kind = event["type"]
    if kind == "BlockStored":
        names = {
            "array-v0.8": _STORED_V0_8,
            "array-v0.11": _STORED_V0_11,
            "array-lora-name": _STORED_LATER,
        }[encoding]
    elif kind == "BlockRemoved":
        names = _REMOVED_V0_8 if encoding == "array-v0.8" else _REMOVED
    else:
        names = ()
    values = [event.get(name) for name in names]
    if encoding == "array-lora-name" and kind == "BlockStored":
        values += [None, 0, "full", None]  # newer trailing fields must be tolerated
    return [kind, *values]


def encode_batch(events: Sequence[Event], encoding: str, ts: float = 1.5) -> bytes:
    if encoding == "map":
        body: object = {"ts": ts, "events": list(events), "data_parallel_rank": 0}
    elif encoding == "array-v0.8":
        body = [ts, [_positional(e, encoding) for e in events]]
    else:
        body = [ts, [_positional(e, encoding) for e in events], 0]
    return msgpack.packb(body)


def frames(seq: int, payload: bytes, topic: bytes = b"kv-events") -> list[bytes]:
    return [topic, seq.to_bytes(8, "big"), payload]

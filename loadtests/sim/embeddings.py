"""Deterministic embeddings: a unit vector per input, derived from its token ids.

Feature hashing over tokens and token bigrams: each feature adds ±1 to a few coordinates
picked by a 64-bit mix of its id, then the vector is L2-normalised. Equal inputs give equal
vectors and inputs sharing many tokens point in similar directions; no model is involved.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Sequence

_MASK = (1 << 64) - 1
_SLOTS_PER_FEATURE = 4


def _mix(value: int) -> int:
    """splitmix64's finaliser: a cheap, well-spread 64-bit hash of an int."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def embed(token_ids: Sequence[int], dim: int) -> list[float]:
    vector = [0.0] * dim
    previous = -1
    for token in token_ids:
        for feature in (token, (previous << 20) ^ token ^ 0x5BD1E995):
            mixed = _mix(feature)
            for _ in range(_SLOTS_PER_FEATURE):
                vector[mixed % dim] += 1.0 if mixed & (1 << 63) else -1.0
                mixed = _mix(mixed)
        previous = token
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        vector[0], norm = 1.0, 1.0
    return [x / norm for x in vector]


def as_base64(vector: Sequence[float]) -> str:
    """`encoding_format="base64"`: little-endian float32, as OpenAI and vLLM encode it."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()

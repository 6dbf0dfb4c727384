"""Prefix-cache block hashes: chained over full blocks of token ids, as in vLLM v1.

vLLM (`kv_cache_utils.hash_block_tokens`) hashes `(parent_hash, block_tokens, extra_keys)`
where the first block's parent is a per-process seed (`NONE_HASH`), `cache_salt` is an
extra key of the first block only and the LoRA adapter one of every block. So two prompts
share block i's hash iff they share tokens [0, 16·(i+1)), salt and adapter.

Here the seed comes from the model name through hashlib and the chaining hash is CPython's
tuple hash over ints, which is deterministic (ints are not randomized by PYTHONHASHSEED) and
about 0.3 µs per block; the result is masked to a non-negative 64-bit int, the width vLLM
publishes in its KV events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_MASK64 = (1 << 64) - 1


def stable_key(text: str) -> int:
    """A non-negative 64-bit int derived from `text`, identical in every process."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class BlockHasher:
    """Hashes the full blocks of token sequences for one model; immutable, thread-safe."""

    __slots__ = ("block_size", "root")

    def __init__(self, model_name: str, block_size: int) -> None:
        if block_size <= 0:
            raise ValueError(f"block_size must be positive, got {block_size}")
        self.block_size = block_size
        self.root = stable_key(f"kvgate-sim/none-hash/{model_name}")

    @staticmethod
    def extra_keys(cache_salt: str | None, lora_name: str | None) -> tuple[int, int]:
        """`(lora_key, salt_key)` for `extend`; 0 stands for "none"."""
        lora_key = stable_key(f"lora/{lora_name}") if lora_name else 0
        salt_key = stable_key(f"salt/{cache_salt}") if cache_salt else 0
        return lora_key, salt_key

    def extend(
        self,
        hashes: list[int],
        token_ids: Sequence[int],
        num_tokens: int,
        lora_key: int = 0,
        salt_key: int = 0,
    ) -> None:
        """Append to `hashes` the hashes of the full blocks of `token_ids[:num_tokens]`.

        `hashes` holds the hashes of the first `len(hashes)` blocks already (the chain is
        resumed from its last element), so calling this as tokens arrive costs O(new blocks).
        """
        size = self.block_size
        index = len(hashes)
        stop = num_tokens // size
        if index >= stop:
            return
        if index == 0:
            parent = hash((self.root, lora_key, salt_key, *token_ids[:size])) & _MASK64
            hashes.append(parent)
            index = 1
        else:
            parent = hashes[-1]
        append = hashes.append
        for start in range(index * size, stop * size, size):
            parent = hash((parent, lora_key, 0, *token_ids[start : start + size])) & _MASK64
            append(parent)

    def hash_blocks(
        self,
        token_ids: Sequence[int],
        *,
        cache_salt: str | None = None,
        lora_name: str | None = None,
    ) -> list[int]:
        """The hashes of every full block of `token_ids` (a trailing partial block has none)."""
        hashes: list[int] = []
        self.extend(hashes, token_ids, len(token_ids), *self.extra_keys(cache_salt, lora_name))
        return hashes

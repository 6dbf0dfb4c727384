"""Chained 64-bit block hashes over token ids: the key of the prefix-locality index.

A prompt's token ids are cut into full blocks of `block_size` tokens (a trailing partial
block is dropped, as vLLM never caches one). Block i's hash is a function of block i-1's
hash and block i's tokens, so equal hashes mean equal *prefixes*, not just equal blocks.
The chain starts from a seed that digests (model, LoRA adapter, cache_salt): the same
tokens under another model, adapter or salt never share a hash.

Block hashes use CPython's tuple hash (xxHash-style lanes over the elements' hashes). It
is not randomized by PYTHONHASHSEED (only `str`/`bytes` hashes are), it is the same on every
64-bit CPython since 3.8, and it is ~10x faster than any hashlib digest per block (a
32k-token prompt hashes in about 1 ms). Two consequences, both acceptable for routing:
- gateway replicas sharing a Redis index must run a 64-bit CPython ≥ 3.8 (pinned by a
  test vector in the tests);
- the parent enters the next hash reduced modulo 2**61 - 1 (CPython's int hash), so the
  chain carries ~61 bits of state. A collision only misroutes a request; engines hash
  blocks themselves, so it can never serve wrong KV.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

DEFAULT_BLOCK_SIZE = 16
HASH_MASK = (1 << 64) - 1
_SEED_PERSON = b"kvgate-prefix-v1"


def prefix_seed(model: str, lora: str | None = None, cache_salt: str | None = None) -> int:
    """The chain seed for a (model, LoRA adapter, cache_salt) triple, in [0, 2**64).

    Stable across processes, machines and Python versions (BLAKE2b, never `str.__hash__`).
    `model` is the base model the engine serves, `lora` the adapter name; an empty adapter
    name or salt means none, as in vLLM (`if request.cache_salt`).
    """
    digest = hashlib.blake2b(digest_size=8, person=_SEED_PERSON)
    for part in (model, lora or None, cache_salt or None):
        if part is None:
            digest.update(b"\x00")
            continue
        data = part.encode()
        digest.update(b"\x01" + len(data).to_bytes(4, "big") + data)
    return int.from_bytes(digest.digest(), "big")


def continue_chain(
    parent: int, token_ids: Sequence[int], *, block_size: int = DEFAULT_BLOCK_SIZE
) -> list[int]:
    """Hashes of the full blocks of `token_ids`, chained onto `parent`.

    `parent` is the hash of the block just before `token_ids[0]` (or a seed when the
    tokens start a prompt). Returns `len(token_ids) // block_size` ints in [0, 2**64);
    `continue_chain(p, a + b)` equals `x + continue_chain(x[-1], b)` for
    `x = continue_chain(p, a)` when `len(a)` is a multiple of `block_size`.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be ≥ 1, got {block_size}")
    hashes: list[int] = []
    append = hashes.append
    current = parent
    end = len(token_ids) - len(token_ids) % block_size
    for start in range(0, end, block_size):
        current = hash((current, *token_ids[start : start + block_size])) & HASH_MASK
        append(current)
    return hashes


def block_hashes(
    token_ids: Sequence[int], *, seed: int, block_size: int = DEFAULT_BLOCK_SIZE
) -> list[int]:
    """Hashes of every full block of a prompt, its chain seeded by `prefix_seed(...)`."""
    return continue_chain(seed, token_ids, block_size=block_size)


def max_reusable_blocks(num_tokens: int, block_size: int = DEFAULT_BLOCK_SIZE) -> int:
    """How many leading blocks of a `num_tokens` prompt an engine can serve from cache.

    vLLM always recomputes the prompt's last token, so a fully cached prompt still reuses
    at most `(num_tokens - 1) // block_size` blocks; scorers should cap matches with this.
    """
    return max(0, (num_tokens - 1) // block_size)

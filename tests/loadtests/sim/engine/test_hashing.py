from __future__ import annotations

import os
import subprocess
import sys

import pytest

from loadtests.sim.engine.hashing import BlockHasher, stable_key

from .engine_helpers import random_tokens, text_tokens

MODEL = "Qwen/Qwen2.5-7B-Instruct"


@pytest.fixture
def hasher() -> BlockHasher:
    return BlockHasher(MODEL, 16)


@pytest.mark.parametrize(
    ("num_tokens", "num_blocks"),
    [(0, 0), (15, 0), (16, 1), (31, 1), (32, 2), (33, 2), (2047, 127), (32768, 2048)],
)
def test_only_full_blocks_are_hashed(hasher: BlockHasher, num_tokens: int, num_blocks: int) -> None:
    assert len(hasher.hash_blocks(random_tokens(num_tokens, seed=1))) == num_blocks


def test_hash_is_a_chain_over_the_prefix(hasher: BlockHasher) -> None:
    prompt = text_tokens(64)
    extended = prompt + random_tokens(48, seed=2)
    changed_first = [prompt[0] + 1, *prompt[1:]]
    changed_third_block = [*prompt[:40], prompt[40] + 1, *prompt[41:]]

    base = hasher.hash_blocks(prompt)
    assert hasher.hash_blocks(extended)[:4] == base  # a shared prefix shares hashes
    assert all(a != b for a, b in zip(hasher.hash_blocks(changed_first), base, strict=True))
    third = hasher.hash_blocks(changed_third_block)
    assert third[:2] == base[:2]
    assert all(a != b for a, b in zip(third[2:], base[2:], strict=True))


def test_extend_resumes_the_chain(hasher: BlockHasher) -> None:
    tokens = random_tokens(100, seed=3)
    incremental: list[int] = []
    for n in range(len(tokens) + 1):
        hasher.extend(incremental, tokens, n)
    assert incremental == hasher.hash_blocks(tokens)


def test_hashes_are_non_negative_64_bit_and_unique_per_prefix(hasher: BlockHasher) -> None:
    hashes = [h for seed in range(200) for h in hasher.hash_blocks(random_tokens(160, seed))]
    assert all(0 <= h < 1 << 64 for h in hashes)
    assert len(set(hashes)) == len(hashes)


@pytest.mark.parametrize(
    ("model_a", "model_b", "equal"),
    [(MODEL, MODEL, True), (MODEL, "meta-llama/Llama-3.1-8B-Instruct", False)],
    ids=["same-model", "other-model"],
)
def test_seeded_per_model(model_a: str, model_b: str, equal: bool) -> None:
    tokens = text_tokens(48)
    a = BlockHasher(model_a, 16).hash_blocks(tokens)
    b = BlockHasher(model_b, 16).hash_blocks(tokens)
    assert (a == b) is equal
    if not equal:
        assert not set(a) & set(b)


def test_cache_salt_enters_only_the_first_block(hasher: BlockHasher) -> None:
    tokens = text_tokens(64)
    plain = hasher.hash_blocks(tokens)
    salted = hasher.hash_blocks(tokens, cache_salt="tenant-a")
    assert all(a != b for a, b in zip(plain, salted, strict=True))  # the chain carries it
    assert hasher.hash_blocks(tokens, cache_salt="tenant-b") != salted
    # Resuming from the salted first block without the salt gives the same chain: the
    # salt is an extra key of block 0 only.
    resumed = [salted[0]]
    hasher.extend(resumed, tokens, len(tokens))
    assert resumed == salted


def test_lora_enters_every_block(hasher: BlockHasher) -> None:
    tokens = text_tokens(64)
    with_lora = hasher.hash_blocks(tokens, lora_name="sql-adapter")
    assert all(a != b for a, b in zip(hasher.hash_blocks(tokens), with_lora, strict=True))
    resumed_without_lora = [with_lora[0]]
    hasher.extend(resumed_without_lora, tokens, len(tokens))
    assert resumed_without_lora[1:] != with_lora[1:]
    lora_key, salt_key = hasher.extra_keys(None, "sql-adapter")
    resumed = [with_lora[0]]
    hasher.extend(resumed, tokens, len(tokens), lora_key, salt_key)
    assert resumed == with_lora


_CHILD = """
from loadtests.sim.engine.hashing import BlockHasher, stable_key
tokens = list(range(1000, 1100))
print(BlockHasher("m", 16).hash_blocks(tokens, cache_salt="s", lora_name="l"), stable_key("x"))
"""


def test_stable_across_processes() -> None:
    expected = BlockHasher("m", 16).hash_blocks(
        list(range(1000, 1100)), cache_salt="s", lora_name="l"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout.strip())
    assert outputs == {f"{expected} {stable_key('x')}"}

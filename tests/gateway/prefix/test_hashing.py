from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gateway.prefix.hashing import (
    HASH_MASK,
    block_hashes,
    continue_chain,
    max_reusable_blocks,
    prefix_seed,
)

MODEL = "Qwen/Qwen2.5-7B-Instruct"
SEED = prefix_seed(MODEL)
TOKENS = list(range(1000, 1100))  # 100 tokens: 6 full blocks of 16, 4 left over


@pytest.mark.parametrize(
    ("num_tokens", "block_size", "expected_blocks"),
    [
        pytest.param(0, 16, 0, id="empty"),
        pytest.param(15, 16, 0, id="partial-only"),
        pytest.param(16, 16, 1, id="one-full"),
        pytest.param(100, 16, 6, id="trailing-partial-dropped"),
        pytest.param(100, 1, 100, id="block-size-1"),
        pytest.param(100, 32, 3, id="block-size-32"),
    ],
)
def test_only_full_blocks_are_hashed(
    num_tokens: int, block_size: int, expected_blocks: int
) -> None:
    hashes = block_hashes(TOKENS[:num_tokens], seed=SEED, block_size=block_size)
    assert len(hashes) == expected_blocks
    assert all(0 <= h <= HASH_MASK for h in hashes)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(TOKENS[:16], TOKENS[:16] + [7] * 15, id="partial-tail-ignored"),
        pytest.param(TOKENS[:32], TOKENS[:32], id="same-tokens"),
    ],
)
def test_equal_full_blocks_hash_equal(left: list[int], right: list[int]) -> None:
    assert block_hashes(left, seed=SEED) == block_hashes(right, seed=SEED)


def test_chain_depends_on_the_whole_prefix() -> None:
    base = block_hashes(TOKENS, seed=SEED)
    changed_first = block_hashes([0, *TOKENS[1:]], seed=SEED)
    changed_third = [*TOKENS[:32], 0, *TOKENS[33:]]
    third = block_hashes(changed_third, seed=SEED)
    assert all(a != b for a, b in zip(base, changed_first, strict=True))
    assert third[:2] == base[:2]
    assert all(a != b for a, b in zip(base[2:], third[2:], strict=True))


def test_same_block_at_another_position_hashes_differently() -> None:
    block = TOKENS[:16]
    assert len(set(block_hashes(block * 4, seed=SEED))) == 4


@pytest.mark.parametrize("split", [0, 16, 32, 96])
def test_continue_chain_extends_a_chain(split: int) -> None:
    whole = block_hashes(TOKENS, seed=SEED)
    head = block_hashes(TOKENS[:split], seed=SEED)
    parent = head[-1] if head else SEED
    assert head + continue_chain(parent, TOKENS[split:]) == whole


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param((MODEL, None, None), ("Qwen/Qwen2.5-0.5B", None, None), id="model"),
        pytest.param((MODEL, None, None), (MODEL, "sql-lora", None), id="lora"),
        pytest.param((MODEL, "sql-lora", None), (MODEL, "chat-lora", None), id="lora-name"),
        pytest.param((MODEL, None, None), (MODEL, None, "tenant-a"), id="salt"),
        pytest.param((MODEL, None, "tenant-a"), (MODEL, None, "tenant-b"), id="salt-value"),
        pytest.param((MODEL, "x", None), (MODEL, None, "x"), id="lora-vs-salt"),
        pytest.param(("ab", "c", None), ("a", "bc", None), id="no-concatenation-ambiguity"),
    ],
)
def test_seed_separates_models_adapters_and_salts(
    a: tuple[str, str | None, str | None], b: tuple[str, str | None, str | None]
) -> None:
    seed_a, seed_b = prefix_seed(*a), prefix_seed(*b)
    assert seed_a != seed_b
    assert set(block_hashes(TOKENS, seed=seed_a)).isdisjoint(block_hashes(TOKENS, seed=seed_b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param((MODEL, "", None), (MODEL, None, None), id="empty-lora-is-none"),
        pytest.param((MODEL, None, ""), (MODEL, None, None), id="empty-salt-is-none"),
    ],
)
def test_empty_adapter_or_salt_means_none(
    a: tuple[str, str | None, str | None], b: tuple[str, str | None, str | None]
) -> None:
    assert prefix_seed(*a) == prefix_seed(*b)


def test_pinned_vector() -> None:
    """Replicas sharing a Redis index must agree; a change here breaks mixed fleets."""
    seed = prefix_seed(MODEL)
    assert seed == 11734977504275907145
    assert block_hashes(list(range(40)), seed=seed) == [13099826712881047401, 5056411727611733]


@pytest.mark.parametrize("hash_seed", ["0", "1", "random"])
def test_stable_across_processes(hash_seed: str) -> None:
    code = (
        "import json, sys\n"
        "from gateway.prefix.hashing import block_hashes, prefix_seed\n"
        "seed = prefix_seed(*json.loads(sys.argv[1]))\n"
        "print(json.dumps([seed, block_hashes(json.loads(sys.argv[2]), seed=seed)]))\n"
    )
    key = [MODEL, "sql-lora", "salt"]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(key), json.dumps(TOKENS)],
        capture_output=True,
        check=True,
        env=env,
        text=True,
    ).stdout
    seed = prefix_seed(*key)
    assert json.loads(out) == [seed, block_hashes(TOKENS, seed=seed)]


@pytest.mark.parametrize(
    ("num_tokens", "expected"),
    [(0, 0), (1, 0), (16, 0), (17, 1), (32, 1), (33, 2), (1000, 62)],
)
def test_max_reusable_blocks_leaves_the_last_token(num_tokens: int, expected: int) -> None:
    assert max_reusable_blocks(num_tokens, 16) == expected


def test_block_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="block_size"):
        block_hashes(TOKENS, seed=SEED, block_size=0)

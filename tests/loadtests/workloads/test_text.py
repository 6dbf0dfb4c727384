from __future__ import annotations

import random

import pytest

from loadtests.workloads.text import TextSource


@pytest.mark.parametrize("tokens", [1, 2, 3, 5, 16, 17, 100, 999, 6000])
def test_text_encodes_to_exactly_the_requested_tokens(text: TextSource, tokens: int) -> None:
    rng = random.Random(tokens)
    for _ in range(5):
        assert text.count(text.text(rng, tokens)) == tokens


def test_every_small_size_is_exact(text: TextSource) -> None:
    rng = random.Random(7)
    assert all(text.count(text.text(rng, n)) == n for n in range(1, 200))


def test_same_seed_same_text_different_seed_different(text: TextSource) -> None:
    first = text.text(random.Random(1), 500)
    assert text.text(random.Random(1), 500) == first
    assert text.text(random.Random(2), 500) != first


def test_text_reads_like_sentences(text: TextSource) -> None:
    prose = text.text(random.Random(3), 400)
    assert prose[0].isupper()
    assert prose.endswith(".")
    assert prose.count(".") >= 10
    assert all(word.strip(".,").isalpha() for word in prose.split())


def test_zero_tokens_is_rejected(text: TextSource) -> None:
    with pytest.raises(ValueError, match="≥ 1"):
        text.text(random.Random(0), 0)

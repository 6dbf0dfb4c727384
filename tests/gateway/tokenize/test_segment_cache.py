from __future__ import annotations

import random

import pytest

from gateway.tokenize import get_chat_template, load_tokenizer
from gateway.tokenize.segment_cache import SegmentCachingTokenizer

WORDS = ["cache", "prefix", " engine", "\n\n", "  ", "déjà", "前缀", "42", "x=1;", "<|im", "|>"]


def _text(rng: random.Random, words: int) -> str:
    return "".join(rng.choice(WORDS) + rng.choice(["", " ", "\n", "\t"]) for _ in range(words))


@pytest.mark.parametrize("spec", ["qwen2.5", "qwen3.6"])
def test_cached_encoding_equals_a_full_encode(spec: str) -> None:
    tokenizer = load_tokenizer(spec)
    cached = SegmentCachingTokenizer(tokenizer, min_chars=64)
    template = get_chat_template("chatml")
    rng = random.Random(spec)
    documents = [_text(rng, 200) for _ in range(3)]
    for i in range(12):
        messages = [
            {"role": "system", "content": documents[i % 3]},
            {"role": "user", "content": _text(rng, 40 if i % 2 else 5)},
        ]
        text = template.render(messages, tools=None, add_generation_prompt=True)
        assert cached.encode(text) == tokenizer.encode(text)
    assert cached.hits >= 9  # each document encoded once, then taken from the cache
    raw = documents[0] + "<|im_end|>" + documents[1]  # markup typed into plain text too
    assert cached.encode(raw) == tokenizer.encode(raw)


def test_the_cache_is_bounded_by_tokens() -> None:
    tokenizer = load_tokenizer("qwen2.5")
    cached = SegmentCachingTokenizer(tokenizer, min_chars=8, capacity_tokens=50)
    for i in range(20):
        text = f"piece number {i} " * 10
        assert cached.encode(text) == tokenizer.encode(text)
    assert cached.encode("piece number 0 " * 10) == tokenizer.encode("piece number 0 " * 10)
    assert cached.hits == 0  # the first pieces were evicted long ago


def test_tokenizers_without_special_tokens_are_passed_through() -> None:
    estimate = load_tokenizer("estimate")
    cached = SegmentCachingTokenizer(estimate, min_chars=1)
    assert cached.encode("a" * 4000) == estimate.encode("a" * 4000)
    assert cached.hits == cached.misses == 0

"""Prose of an exact token count, fast.

Text is built from pieces that the byte-level BPE pre-tokenizer (Qwen2.5, cl100k) keeps
apart — `" word"`, `" Word"`, `"Word"` after a paragraph break, `","`, `"."`, `".\\n\\n"` —
so the token count of the text is the sum of the pieces' counts, known in advance. Each
text is encoded once at the end to check the sum and trimmed or padded in the rare case
it is off, so `text(rng, n)` always encodes to exactly `n` tokens.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.tokenize import Tokenizer, load_tokenizer
from loadtests.workloads.words import WORDS

_SENTENCE_WORDS = (5, 18)  # words per sentence, inclusive
_COMMA_P = 0.08
_PARAGRAPH_P = 0.15  # chance a sentence ends its paragraph


class _Form:
    """One spelling of every word (e.g. `" word"`) and its token counts."""

    def __init__(self, tokenizer: Tokenizer, spellings: Sequence[str]) -> None:
        self.spellings = tuple(spellings)
        self.costs = tuple(len(tokenizer.encode(s)) for s in spellings)
        self.single = tuple(i for i, cost in enumerate(self.costs) if cost == 1)
        if not self.single:
            raise ValueError("the vocabulary needs words that are a single token")


class TextSource:
    """Makes deterministic prose of an exact token count with one tokenizer.

    Immutable after construction; `text` draws only from the `rng` it is given, so the same
    seed gives the same text.
    """

    def __init__(self, tokenizer: Tokenizer, words: Sequence[str] = WORDS) -> None:
        self.tokenizer = tokenizer
        self._inner = _Form(tokenizer, [f" {w}" for w in words])
        self._opening = _Form(tokenizer, [f" {w.capitalize()}" for w in words])
        self._first = _Form(tokenizer, [w.capitalize() for w in words])
        self._punctuation = {p: len(tokenizer.encode(p)) for p in (",", ".", ".\n\n")}
        if any(cost != 1 for cost in self._punctuation.values()):
            raise ValueError(f"{tokenizer.name}: punctuation is not one token each")

    @classmethod
    def default(cls) -> TextSource:
        """Over the tokenizer of the engines and the gateway (`qwen2.5`)."""
        return cls(load_tokenizer("qwen2.5"))

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def text(self, rng: random.Random, tokens: int) -> str:
        """Sentences of random words that encode to exactly `tokens` tokens (≥ 1)."""
        if tokens < 1:
            raise ValueError(f"tokens must be ≥ 1, got {tokens}")
        text = self._compose(rng, tokens)
        return self._fit(text, tokens)

    def _compose(self, rng: random.Random, tokens: int) -> str:
        parts: list[str] = []
        form = self._first
        left = tokens
        sentence = rng.randint(*_SENTENCE_WORDS)
        while True:
            budget = left - 1 if left > 1 else 1  # keep one token back for the final period
            index = rng.randrange(len(form.spellings))
            if form.costs[index] > budget:
                index = form.single[index % len(form.single)]
            parts.append(form.spellings[index])
            left -= form.costs[index]
            if left <= 1:
                break
            sentence -= 1
            form = self._inner
            if sentence <= 0 and left > 2:
                end = ".\n\n" if rng.random() < _PARAGRAPH_P else "."
                parts.append(end)
                left -= 1
                form = self._first if end == ".\n\n" else self._opening
                sentence = rng.randint(*_SENTENCE_WORDS)
            elif left > 2 and rng.random() < _COMMA_P:
                parts.append(",")
                left -= 1
        if left == 1:
            parts.append(".")
        return "".join(parts)

    def _fit(self, text: str, tokens: int) -> str:
        """Trim or pad to exactly `tokens` in case piece counts did not add up."""
        ids = self.tokenizer.encode(text)
        for _ in range(8):
            if len(ids) == tokens:
                return text
            if len(ids) > tokens:
                text = self.tokenizer.decode(ids[:tokens])
            else:
                text += " the" * (tokens - len(ids))
            ids = self.tokenizer.encode(text)
        raise ValueError(f"could not make text of exactly {tokens} tokens")

"""Output planning: which tokens a request will generate, decided before it is submitted.

A real engine samples; the simulator plans. For each choice the planner picks token ids, the
text each token adds to the stream, and how the request ends:

- text: deterministic filler — English words that are single tokens of the vocabulary, with
  commas and full stops — seeded by the request's `seed` or, without one, by its prompt tokens
  (and `--seed`), so equal requests get equal answers; `--echo` repeats the prompt instead;
- length: `max_tokens` (when absent: min(256, remaining context), see `default_max_tokens`)
  unless an output-length distribution (`--output-len-dist`) ends it earlier with EOS, which
  finishes with `finish_reason="stop"` (the EOS token counts as a generated token and adds
  no text, as in vLLM); `min_tokens` holds EOS and stop strings back; `ignore_eos` disables EOS;
- `stop` strings truncate the text before the first match that completes after `min_tokens`
  tokens and finish with `finish_reason="stop"`, `stop_reason` = the matched string.

Text per token is accumulated like vLLM's incremental detokenizer: a token that ends inside a
multi-byte character adds nothing until the character is complete, so no U+FFFD appears.
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gateway.tokenize import Tokenizer

DEFAULT_MAX_TOKENS = 256

_WORDS = (
    "the", "of", "and", "to", "in", "is", "was", "that", "for", "it", "with", "as", "on", "be",
    "at", "by", "this", "had", "not", "are", "but", "from", "or", "have", "an", "they", "which",
    "one", "you", "were", "all", "we", "her", "she", "there", "would", "their", "will", "when",
    "who", "him", "been", "has", "more", "if", "no", "out", "so", "said", "what", "up", "its",
    "about", "into", "than", "them", "can", "only", "other", "new", "some", "could", "time",
    "these", "two", "may", "then", "do", "first", "any", "my", "now", "such", "like", "our",
    "over", "man", "me", "even", "most", "made", "after", "also", "did", "many", "before", "must",
    "through", "back", "years", "where", "much", "your", "way", "well", "down", "should",
    "because", "each", "just", "those", "people", "how", "too", "little", "state", "good", "very",
    "make", "world", "still", "own", "see", "men", "work", "long", "get", "here", "between",
    "both", "life", "being", "under", "never", "day", "same", "another", "know", "while", "last",
    "might", "us", "great", "old", "year", "off", "come", "since", "against", "go", "came",
    "right", "used", "take", "three", "small", "large", "house", "water", "light", "model",
    "cache", "block", "token", "engine", "router", "request", "answer", "simple", "clear",
    "quiet", "green", "river", "stone", "music", "paper", "window", "garden", "letter", "morning",
    "evening"
)  # fmt: skip
_SENTENCE_MIN, _SENTENCE_MAX = 6, 16

FinishReason = Literal["stop", "length"]


class OutputSpecError(ValueError):
    """An `--output-len-dist` spec cannot be parsed."""


@dataclass(frozen=True)
class OutputLengthDist:
    """How many tokens a request generates before EOS.

    Specs: `max` (default: always `max_tokens`, finish "length"), `fixed:N`, `uniform:A:B`
    (inclusive), `geometric:P` (EOS after each token with probability P).
    """

    kind: Literal["max", "fixed", "uniform", "geometric"] = "max"
    low: float = 0.0
    high: float = 0.0

    @classmethod
    def parse(cls, spec: str) -> OutputLengthDist:
        kind, _, rest = spec.partition(":")
        args = rest.split(":") if rest else []
        try:
            if kind == "max" and not args:
                return cls()
            if kind == "fixed" and len(args) == 1 and int(args[0]) >= 1:
                return cls("fixed", int(args[0]), int(args[0]))
            if kind == "uniform" and len(args) == 2 and 1 <= int(args[0]) <= int(args[1]):
                return cls("uniform", int(args[0]), int(args[1]))
            if kind == "geometric" and len(args) == 1 and 0.0 < float(args[0]) <= 1.0:
                return cls("geometric", float(args[0]), float(args[0]))
        except ValueError:
            pass
        raise OutputSpecError(
            f"bad --output-len-dist {spec!r}; expected max, fixed:N, uniform:A:B or geometric:P"
        )

    def sample(self, rng: random.Random) -> int | None:
        """Tokens until EOS (EOS included), or None for "until max_tokens"."""
        if self.kind == "max":
            return None
        if self.kind == "fixed":
            return int(self.low)
        if self.kind == "uniform":
            return rng.randint(int(self.low), int(self.high))
        count = 1
        while rng.random() >= self.low:
            count += 1
        return count


@dataclass(frozen=True)
class PlannedOutput:
    """One choice's output: token ids, the JSON-escaped text each adds, and the ending."""

    token_ids: tuple[int, ...]
    pieces: tuple[str, ...]  # the text each token adds
    escaped_pieces: tuple[str, ...]  # the same as JSON string literals (with quotes)
    text: str
    finish_reason: FinishReason
    stop_reason: str | None = None


@dataclass(frozen=True)
class OutputRequest:
    """What the planner needs from a request (one choice)."""

    prompt_token_ids: Sequence[int]
    max_tokens: int
    seed: int
    min_tokens: int = 0
    ignore_eos: bool = False
    stop: tuple[str, ...] = ()
    echo_token_ids: Sequence[int] = ()  # the tokens `--echo` repeats; empty = filler


def default_max_tokens(max_model_len: int, prompt_tokens: int) -> int:
    return max(0, min(DEFAULT_MAX_TOKENS, max_model_len - prompt_tokens))


def content_seed(token_ids: Sequence[int], base: int) -> int:
    """A deterministic seed from request content (tuple hashes of ints are not salted)."""
    return hash((base, tuple(token_ids))) & 0x7FFF_FFFF_FFFF_FFFF


def json_string(text: str) -> str:
    """The JSON literal of `text`, non-ASCII kept as UTF-8 like pydantic's `model_dump_json`."""
    return json.dumps(text, ensure_ascii=False)


class Filler:
    """The vocabulary of filler words: (token id, text) pairs that are single tokens."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.words = self._single_tokens(tokenizer, [f" {w}" for w in _WORDS])
        self.capitals = self._single_tokens(tokenizer, [f" {w.capitalize()}" for w in _WORDS])
        punctuation = self._single_tokens(tokenizer, [".", ","])
        if not self.words or len(punctuation) < 2:
            raise ValueError(f"tokenizer {tokenizer.name!r} has no single-token filler words")
        self.period, self.comma = punctuation[0], punctuation[1]
        self.capitals = self.capitals or self.words

    @staticmethod
    def _single_tokens(tokenizer: Tokenizer, texts: Sequence[str]) -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        for text in texts:
            ids = tokenizer.encode(text)
            if len(ids) == 1:
                found.append((ids[0], text))
        return found

    def generate(self, rng: random.Random, count: int) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        until_stop = rng.randint(_SENTENCE_MIN, _SENTENCE_MAX)
        capital = True
        while len(out) < count:
            if until_stop == 0:
                out.append(self.period)
                until_stop, capital = rng.randint(_SENTENCE_MIN, _SENTENCE_MAX), True
                continue
            pool = self.capitals if capital else self.words
            out.append(pool[rng.randrange(len(pool))])
            capital = False
            until_stop -= 1
            if until_stop > 2 and rng.random() < 0.06:
                out.append(self.comma)
        return out[:count]


def incremental_pieces(tokenizer: Tokenizer, token_ids: Sequence[int]) -> list[str]:
    """The text each token adds, as vLLM's incremental detokenizer streams it."""
    pieces: list[str] = []
    prefix_offset = read_offset = 0
    for end in range(1, len(token_ids) + 1):
        prefix_text = tokenizer.decode(token_ids[prefix_offset:read_offset])
        new_text = tokenizer.decode(token_ids[prefix_offset:end])
        if len(new_text) > len(prefix_text) and not new_text.endswith("\ufffd"):
            pieces.append(new_text[len(prefix_text) :])
            prefix_offset, read_offset = read_offset, end
        else:
            pieces.append("")
    if pieces and read_offset < len(token_ids):  # a trailing partial character: flush it
        tail = tokenizer.decode(token_ids[prefix_offset:])
        pieces[-1] = tail[len(tokenizer.decode(token_ids[prefix_offset:read_offset])) :]
    return pieces


class OutputPlanner:
    """Plans outputs for one tokenizer; immutable after construction, cheap per request."""

    def __init__(self, tokenizer: Tokenizer, *, length_dist: OutputLengthDist) -> None:
        self._tokenizer = tokenizer
        self._filler = Filler(tokenizer)
        self._length_dist = length_dist
        self._eos = tokenizer.eos_token_id

    def plan(self, request: OutputRequest) -> PlannedOutput:
        rng = random.Random(request.seed)
        count, finish = self._length(request, rng)
        eos = finish == "stop" and self._eos is not None
        body = count - 1 if eos else count
        token_ids, pieces = self._tokens(request, rng, body)
        if eos:
            assert self._eos is not None
            token_ids.append(self._eos)
            pieces.append("")
        stop_reason: str | None = None
        if request.stop:
            cut = _stop_cut(pieces, request.stop, request.min_tokens)
            if cut is not None:
                last, keep_chars, stop_reason = cut
                token_ids, pieces = token_ids[: last + 1], _truncate(pieces[: last + 1], keep_chars)
                finish = "stop"
        return PlannedOutput(
            token_ids=tuple(token_ids),
            pieces=tuple(pieces),
            escaped_pieces=tuple(json_string(piece) for piece in pieces),
            text="".join(pieces),
            finish_reason=finish,
            stop_reason=stop_reason,
        )

    def _length(self, request: OutputRequest, rng: random.Random) -> tuple[int, FinishReason]:
        if request.ignore_eos:
            return request.max_tokens, "length"
        until_eos = self._length_dist.sample(rng)
        if until_eos is None:
            return request.max_tokens, "length"
        until_eos = max(until_eos, request.min_tokens + 1, 1)
        if until_eos > request.max_tokens:
            return request.max_tokens, "length"
        return until_eos, "stop"

    def _tokens(
        self, request: OutputRequest, rng: random.Random, count: int
    ) -> tuple[list[int], list[str]]:
        if request.echo_token_ids:
            source = list(request.echo_token_ids)
            repeated = (source * (count // len(source) + 1))[:count]
            return repeated, incremental_pieces(self._tokenizer, repeated)
        words = self._filler.generate(rng, count)
        return [token for token, _ in words], [text for _, text in words]


def _stop_cut(
    pieces: Sequence[str], stops: Sequence[str], min_tokens: int
) -> tuple[int, int, str] | None:
    """(index of the token that completes the first stop match, characters of text to keep,
    the stop string), considering only matches completed after `min_tokens` tokens."""
    text = "".join(pieces)
    ends: list[int] = []
    total = 0
    for piece in pieces:
        total += len(piece)
        ends.append(total)
    best: tuple[int, int, str] | None = None
    for stop in stops:
        if not stop:
            continue
        start = text.find(stop)
        while start != -1:
            match_end = start + len(stop)
            token = bisect.bisect_left(ends, match_end)
            if token + 1 > min_tokens:
                if best is None or start < best[1]:
                    best = (token, start, stop)
                break
            start = text.find(stop, start + 1)
    return best


def _truncate(pieces: Sequence[str], keep_chars: int) -> list[str]:
    out: list[str] = []
    used = 0
    for piece in pieces:
        take = max(0, min(len(piece), keep_chars - used))
        out.append(piece[:take])
        used += take
    return out

"""Tokenize long prompts once per distinct long piece: the shared prefix is not re-encoded.

A gateway in front of prefix-sharing traffic sees the same long system prompt or document
in request after request; BPE-encoding ~6k tokens of it costs several milliseconds of CPU
each time (most of the gateway's CPU per request on the shared-prefix benchmark). tiktoken
splits a text at special-token markup first and encodes each ordinary piece between two
special tokens on its own, so a rendered chat prompt (`<|im_start|>system\\n…<|im_end|>…`)
encodes to the concatenation of its pieces' encodings: caching the long pieces by their
text gives exactly the ids of a full encode. Only tokenizers that expose their special
tokens (`TiktokenTokenizer`) are cached; any other is called as is.

The cache is bounded by the tokens it holds (ids are kept as 4-byte arrays; the keys are
the pieces' texts), least recently used first out, and is safe to use from the prompt
builder's worker threads.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from gateway.tokenize.base import Tokenizer

DEFAULT_MIN_CHARS = 2048
"""Pieces shorter than this are encoded each time (a lookup would save little)."""
DEFAULT_CAPACITY_TOKENS = 2_000_000
"""About 8 MB of ids plus ~10 MB of key text: a few hundred 6k-token prefixes."""


class SegmentCachingTokenizer:
    """A `Tokenizer` that remembers the encodings of long pieces between special tokens."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        *,
        min_chars: int = DEFAULT_MIN_CHARS,
        capacity_tokens: int = DEFAULT_CAPACITY_TOKENS,
    ) -> None:
        self.inner = tokenizer
        self._min_chars = max(1, min_chars)
        self._capacity = max(0, capacity_tokens)
        specials: Mapping[str, int] = getattr(tokenizer, "special_tokens", None) or {}
        self._special_ids = dict(specials)
        self._split: re.Pattern[str] | None = None
        if specials and self._capacity:
            alternatives = sorted(specials, key=len, reverse=True)
            self._split = re.compile("(" + "|".join(map(re.escape, alternatives)) + ")")
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, array[int]] = OrderedDict()
        self._tokens = 0
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def vocab_size(self) -> int:
        return self.inner.vocab_size

    @property
    def eos_token_id(self) -> int | None:
        return self.inner.eos_token_id

    def decode(self, token_ids: Sequence[int]) -> str:
        return self.inner.decode(token_ids)

    def token_str(self, token_id: int) -> str:
        return self.inner.token_str(token_id)

    def encode(self, text: str) -> list[int]:
        split = self._split
        if split is None or len(text) < self._min_chars:
            return self.inner.encode(text)
        ids: list[int] = []
        special = False  # `re.split` with one group alternates text, markup, text, …
        for piece in split.split(text):
            if special:
                ids.append(self._special_ids[piece])
            elif len(piece) >= self._min_chars:
                ids.extend(self._encode_long(piece))
            elif piece:
                ids.extend(self.inner.encode(piece))
            special = not special
        return ids

    def _encode_long(self, piece: str) -> array[int] | list[int]:
        with self._lock:
            cached = self._cache.get(piece)
            if cached is not None:
                self._cache.move_to_end(piece)
                self.hits += 1
                return cached
            self.misses += 1
        encoded = self.inner.encode(piece)
        if len(encoded) > self._capacity:
            return encoded
        stored = array("I", encoded)
        with self._lock:
            if piece not in self._cache:
                self._cache[piece] = stored
                self._tokens += len(stored)
                while self._tokens > self._capacity:
                    _, evicted = self._cache.popitem(last=False)
                    self._tokens -= len(evicted)
        return encoded

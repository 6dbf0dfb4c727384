"""The tokenizer contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class TokenizerError(ValueError):
    """A tokenizer spec cannot be resolved or its vocabulary cannot be loaded."""


class Tokenizer(Protocol):
    """Text ⇄ token ids with one real vocabulary.

    Implementations are immutable after construction and safe to call from several
    threads at once (the gateway tokenizes long prompts in a worker thread).
    """

    @property
    def name(self) -> str: ...

    @property
    def vocab_size(self) -> int: ...

    @property
    def eos_token_id(self) -> int | None: ...

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; special-token markup in `text` becomes special tokens."""
        ...

    def decode(self, token_ids: Sequence[int]) -> str: ...

    def token_str(self, token_id: int) -> str:
        """The surface form of one token, as vLLM's `/tokenize` reports in `token_strs`."""
        ...

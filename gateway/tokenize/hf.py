"""Hugging Face `tokenizer.json` files through the `tokenizers` library."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizerModel

from gateway.tokenize.base import TokenizerError

_EOS_CANDIDATES = ("<|eot_id|>", "<|im_end|>", "<|end_of_text|>", "<|endoftext|>", "</s>")


class HFTokenizer:
    """A `Tokenizer` over a local `tokenizer.json`; never touches the network."""

    def __init__(self, path: Path) -> None:
        try:
            self._model = HFTokenizerModel.from_file(str(path))
        except Exception as exc:
            raise TokenizerError(f"cannot load tokenizer.json {path}: {exc}") from exc
        self._name = f"hf:{path}"
        self._eos = next(
            (tid for tok in _EOS_CANDIDATES if (tid := self._model.token_to_id(tok)) is not None),
            None,
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def vocab_size(self) -> int:
        return int(self._model.get_vocab_size(with_added_tokens=True))

    @property
    def eos_token_id(self) -> int | None:
        return self._eos

    def encode(self, text: str) -> list[int]:
        return list(self._model.encode(text, add_special_tokens=False).ids)

    def decode(self, token_ids: Sequence[int]) -> str:
        return str(self._model.decode(list(token_ids), skip_special_tokens=False))

    def token_str(self, token_id: int) -> str:
        return str(self._model.decode([token_id], skip_special_tokens=False))

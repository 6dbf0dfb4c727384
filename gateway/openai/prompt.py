"""The prompt as routing sees it, and the stage that builds it."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.routing.interfaces import PromptBuilder
from gateway.routing.request import InferenceRequest


@dataclass(frozen=True, slots=True)
class Prompt:
    """Canonical prompt text, its token ids and prefix-block hashes, computed once.

    Empty when the prompt was not tokenized (no routing stage needs it yet).
    """

    text: str | None = None
    token_ids: tuple[int, ...] = ()
    block_hashes: tuple[int, ...] = ()

    @property
    def token_count(self) -> int:
        return len(self.token_ids)


UNTOKENIZED = Prompt()


class SkipTokenize(PromptBuilder):
    """Does not tokenize: no routing stage reads tokens until prefix routing arrives."""

    async def build(self, request: InferenceRequest) -> Prompt:
        return UNTOKENIZED

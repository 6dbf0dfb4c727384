"""The prompt as routing sees it, and the stage that builds it."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.routing.interfaces import PromptBuilder
from gateway.routing.request import InferenceRequest


@dataclass(frozen=True, slots=True)
class Prompt:
    """Canonical prompt text, its token ids and prefix-block hashes, computed once.

    `block_hashes` are chained over full blocks (`gateway.prefix.hashing`), seeded with
    `base_model` (the prefix index's namespace: the base model of a LoRA request, `None`
    meaning the request's own model), the adapter and the `cache_salt`. Empty when the
    prompt was not tokenized.
    """

    text: str | None = None
    token_ids: tuple[int, ...] = ()
    block_hashes: tuple[int, ...] = ()
    base_model: str | None = None

    @property
    def token_count(self) -> int:
        return len(self.token_ids)


UNTOKENIZED = Prompt()


class SkipTokenize(PromptBuilder):
    """Does not tokenize: for deployments that route on load alone."""

    async def build(self, request: InferenceRequest) -> Prompt:
        return UNTOKENIZED

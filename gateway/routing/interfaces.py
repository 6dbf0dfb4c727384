"""Extension points of routing: prompt building, classification and picking.

Everything here but `PromptBuilder` is pure and synchronous; I/O happens before scheduling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from gateway.routing.request import InferenceRequest
from gateway.routing.snapshot import EndpointSnapshot
from gateway.types import RequestClass

if TYPE_CHECKING:
    from gateway.openai.prompt import Prompt


class PromptBuilder(Protocol):
    async def build(self, request: InferenceRequest) -> Prompt:
        """Render and tokenize the prompt; may run CPU-heavy work off the event loop."""
        ...


class Classifier(Protocol):
    def classify(self, request: InferenceRequest, prompt: Prompt) -> RequestClass:
        """Name the request's class (chat, long_context, batch, …); it selects a profile."""
        ...


class Picker(Protocol):
    def pick(
        self, request: InferenceRequest, candidates: Sequence[EndpointSnapshot]
    ) -> EndpointSnapshot:
        """Choose one of `candidates` (never empty, all ready and serving the model)."""
        ...

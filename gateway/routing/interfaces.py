"""Extension points of routing: prompt building, classification and the scheduler's plugins.

The scheduler follows the Gateway API Inference Extension's framework: async *producers*
gather what a request needs from the outside world (prefix-index lookups) before scheduling;
then, over an immutable pool snapshot, *filters* narrow the candidates, weighted *scorers*
rate each one in [0, 1] and one *picker* chooses. Filters, scorers and pickers are pure and
synchronous; only `PromptBuilder` and `Producer` may do I/O.

Built-in plugins subclass these Protocols explicitly; the registry (`gateway.plugins`) builds
them by type name from the routing policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from gateway.routing.request import InferenceRequest
from gateway.routing.snapshot import EndpointSnapshot
from gateway.types import EndpointId, RequestClass

if TYPE_CHECKING:
    from gateway.openai.prompt import Prompt

_NO_MATCHES: Mapping[EndpointId, int] = MappingProxyType({})


class PromptBuilder(Protocol):
    async def build(self, request: InferenceRequest) -> Prompt:
        """Render and tokenize the prompt; may run CPU-heavy work off the event loop."""
        ...


class Classifier(Protocol):
    def classify(self, request: InferenceRequest, prompt: Prompt) -> RequestClass:
        """Name the request's class (chat, long_context, batch, …); it selects a profile."""
        ...


@dataclass(frozen=True, slots=True)
class SchedulingContext:
    """Everything a scheduling cycle knows about one request; producers add to it.

    `prefix_matches` maps an endpoint to the leading blocks of `prompt.block_hashes` the
    prefix index says it holds (absent: none); `prefix_lookup` says whether a lookup ran.
    """

    request: InferenceRequest
    prompt: Prompt
    request_class: RequestClass
    prefix_lookup: bool = False
    prefix_matches: Mapping[EndpointId, int] = field(default_factory=lambda: _NO_MATCHES)


@dataclass(frozen=True, slots=True)
class ScoredEndpoint:
    """A candidate with its weighted score (a sum of weight × score over the scorers)."""

    endpoint: EndpointSnapshot
    score: float


@runtime_checkable
class Producer(Protocol):
    async def produce(self, context: SchedulingContext) -> SchedulingContext:
        """Return `context` with this producer's data added (`dataclasses.replace`).

        Runs once per request before any scheduling attempt; may do I/O, under its own
        timeout, and must not raise for a lost dependency (degrade to no data instead).
        """
        ...


@runtime_checkable
class Filter(Protocol):
    def filter(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[EndpointSnapshot]:
        """The candidates that may serve the request, in their original order."""
        ...


@runtime_checkable
class Scorer(Protocol):
    def score(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[float]:
        """One score per candidate, in order; 1 is best. The framework clamps to [0, 1]."""
        ...


@runtime_checkable
class Picker(Protocol):
    def pick(self, context: SchedulingContext, scored: Sequence[ScoredEndpoint]) -> ScoredEndpoint:
        """Choose one of `scored` (never empty)."""
        ...

"""A scheduling profile: producers, then filters → weighted scorers → one picker."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.routing.interfaces import (
    Filter,
    Picker,
    Producer,
    SchedulingContext,
    ScoredEndpoint,
    Scorer,
)
from gateway.routing.snapshot import EndpointSnapshot


class PluginContractError(RuntimeError):
    """A plugin broke its contract (e.g. returned a score list of the wrong length)."""


@dataclass(frozen=True, slots=True)
class WeightedScorer:
    name: str
    scorer: Scorer
    weight: float


@dataclass(frozen=True, slots=True)
class Profile:
    """Immutable once built; shared by every request routed with it (and only the pickers'
    own turn counters or random generators change inside)."""

    name: str
    producers: tuple[Producer, ...]
    filters: tuple[Filter, ...]
    scorers: tuple[WeightedScorer, ...]
    picker: Picker

    async def prepare(self, context: SchedulingContext) -> SchedulingContext:
        """Run the producers in order; once per request, before the first attempt."""
        for producer in self.producers:
            context = await producer.produce(context)
        return context

    def choose(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> ScoredEndpoint | None:
        """Filter, score and pick; `None` when the filters leave no candidate."""
        for step in self.filters:
            candidates = step.filter(context, candidates)
            if not candidates:
                return None
        return self.picker.pick(context, self.score(context, candidates))

    def score(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> list[ScoredEndpoint]:
        """Σ weight × clamp(score, 0, 1) per candidate; a NaN score counts as 0."""
        totals = [0.0] * len(candidates)
        for weighted in self.scorers:
            scores = weighted.scorer.score(context, candidates)
            if len(scores) != len(totals):
                raise PluginContractError(
                    f"scorer {weighted.name!r} returned {len(scores)} scores "
                    f"for {len(totals)} candidates"
                )
            weight = weighted.weight
            for i, value in enumerate(scores):
                if value > 0:  # False for NaN
                    totals[i] += weight * (1.0 if value > 1.0 or math.isinf(value) else value)
        return [ScoredEndpoint(snap, total) for snap, total in zip(candidates, totals, strict=True)]

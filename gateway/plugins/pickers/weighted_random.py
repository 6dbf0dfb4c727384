"""`weighted-random-picker`: a candidate drawn with probability proportional to its score."""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.plugins.base import PluginDeps, PluginParams, RoutingPlugin
from gateway.routing.interfaces import Picker, SchedulingContext, ScoredEndpoint


class WeightedRandomPicker(Picker, RoutingPlugin):
    """Proportional to the weighted score; uniform when every score is 0. Spreads work even
    among near-equal engines, at the price of sometimes passing over the best one."""

    type_name = "weighted-random-picker"

    def __init__(self, params: PluginParams, deps: PluginDeps) -> None:
        self._random = random.Random(deps.seed)

    def pick(self, context: SchedulingContext, scored: Sequence[ScoredEndpoint]) -> ScoredEndpoint:
        weights = [max(item.score, 0.0) for item in scored]
        if sum(weights) <= 0:
            return self._random.choice(scored)
        return self._random.choices(scored, weights=weights)[0]

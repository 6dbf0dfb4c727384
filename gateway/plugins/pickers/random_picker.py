"""`random-picker`: any candidate, uniformly (the `random` baseline)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.plugins.base import PluginDeps, PluginParams, RoutingPlugin
from gateway.routing.interfaces import Picker, SchedulingContext, ScoredEndpoint


class RandomPicker(Picker, RoutingPlugin):
    type_name = "random-picker"

    def __init__(self, params: PluginParams, deps: PluginDeps) -> None:
        self._random = random.Random(deps.seed)

    def pick(self, context: SchedulingContext, scored: Sequence[ScoredEndpoint]) -> ScoredEndpoint:
        return self._random.choice(scored)

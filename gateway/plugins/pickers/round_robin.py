"""`round-robin-picker`: each candidate in turn, whatever its load or cache."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.plugins.base import PluginDeps, PluginParams, RoutingPlugin
from gateway.routing.interfaces import Picker, SchedulingContext, ScoredEndpoint


class RoundRobinPicker(Picker, RoutingPlugin):
    """The turn counter belongs to the instance: a policy reload starts a new turn order."""

    type_name = "round-robin-picker"

    def __init__(self, params: PluginParams, deps: PluginDeps) -> None:
        self._turn = 0

    def pick(self, context: SchedulingContext, scored: Sequence[ScoredEndpoint]) -> ScoredEndpoint:
        self._turn += 1
        return scored[self._turn % len(scored)]

"""`max-score-picker`: the best score; ties broken at random."""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.plugins.base import PluginDeps, PluginParams, RoutingPlugin
from gateway.routing.interfaces import Picker, SchedulingContext, ScoredEndpoint

_TIE = 1e-9


class MaxScorePicker(Picker, RoutingPlugin):
    """Random among the candidates within 1e-9 of the best score, so equal engines share
    the load instead of the first one in discovery order taking every tie."""

    type_name = "max-score-picker"

    def __init__(self, params: PluginParams, deps: PluginDeps) -> None:
        self._random = random.Random(deps.seed)

    def pick(self, context: SchedulingContext, scored: Sequence[ScoredEndpoint]) -> ScoredEndpoint:
        best = max(item.score for item in scored)
        tied = [item for item in scored if item.score >= best - _TIE]
        return tied[0] if len(tied) == 1 else self._random.choice(tied)

"""`in-flight-scorer`: fewer of the gateway's own unfinished requests scores higher."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from gateway.plugins.base import PluginDeps, PluginParams, RoutingPlugin
from gateway.routing.headroom import headrooms
from gateway.routing.interfaces import SchedulingContext, Scorer
from gateway.routing.snapshot import EndpointSnapshot


class InFlightScorer(Scorer, RoutingPlugin):
    """`headroom` of the gateway's in-flight count against the least busy candidate.

    The in-flight count is exact and current (taken synchronously as each request is sent),
    so a burst arriving between two metric scrapes is spread at once; with `load: true` the
    scorer uses `EndpointSnapshot.load` instead (also counts other replicas' requests the
    engine reported at its last scrape).
    """

    type_name = "in-flight-scorer"

    class Params(PluginParams):
        slack: float = Field(default=4.0, gt=0)
        slack_ratio: float = Field(default=0.25, ge=0)
        load: bool = False

    def __init__(self, params: Params, deps: PluginDeps) -> None:
        self._slack = params.slack
        self._slack_ratio = params.slack_ratio
        self._use_load = params.load

    def score(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[float]:
        if self._use_load:
            counts = [snap.load for snap in candidates]
        else:
            counts = [snap.in_flight for snap in candidates]
        return headrooms(counts, slack=self._slack, slack_ratio=self._slack_ratio)

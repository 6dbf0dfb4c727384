"""`recent-requests-scorer`: engines that got a smaller share of recent traffic score higher."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from gateway.plugins.base import PluginDeps, PluginParams, RoutingPlugin
from gateway.routing.headroom import headrooms
from gateway.routing.interfaces import SchedulingContext, Scorer
from gateway.routing.snapshot import EndpointSnapshot


class RecentRequestsScorer(Scorer, RoutingPlugin):
    """`headroom` of each engine's decayed count of requests sent (about the last minute)
    against the smallest.

    Instantaneous load (in-flight, queue) only samples how traffic is split; with short
    requests it is mostly noise, and a new prefix lands wherever the sample happened to be
    low. Counting what each engine was sent recently places new prefixes (and so the
    groups of requests that follow them) where the traffic share is lowest, which keeps
    the cached working set, and the work, spread. Weighted low, it decides placement and
    ties; it does not pull a request away from the engine that holds its prefix. The
    default slack is one request, widening to a quarter of the smallest count: a share
    a third above the lowest already costs most of the weight.
    """

    type_name = "recent-requests-scorer"

    class Params(PluginParams):
        slack: float = Field(default=1.0, gt=0)
        slack_ratio: float = Field(default=0.25, ge=0)

    def __init__(self, params: Params, deps: PluginDeps) -> None:
        self._slack = params.slack
        self._slack_ratio = params.slack_ratio

    def score(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[float]:
        counts = [snap.recent_requests for snap in candidates]
        return headrooms(counts, slack=self._slack, slack_ratio=self._slack_ratio)

"""`not-saturated`: drop saturated engines, unless every candidate is saturated."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.plugins.base import RoutingPlugin
from gateway.routing.interfaces import Filter, SchedulingContext
from gateway.routing.snapshot import EndpointSnapshot


class NotSaturatedFilter(Filter, RoutingPlugin):
    """Engines the saturation detector called saturated (queue or KV over its thresholds)
    are removed while an unsaturated one remains; when all are saturated all stay, and the
    scorers choose the least bad (admission, not this filter, decides whether to queue)."""

    type_name = "not-saturated"

    def filter(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[EndpointSnapshot]:
        free = [snap for snap in candidates if not snap.saturated]
        return free or candidates

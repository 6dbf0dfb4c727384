"""`ready`: engines that answer health checks and are not ejected."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.plugins.base import RoutingPlugin
from gateway.routing.interfaces import Filter, SchedulingContext
from gateway.routing.snapshot import EndpointSnapshot


class ReadyFilter(Filter, RoutingPlugin):
    type_name = "ready"

    def filter(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[EndpointSnapshot]:
        return [snap for snap in candidates if snap.ready and not snap.ejected]

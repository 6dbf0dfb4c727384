"""`serves-model`: engines that serve the requested model or LoRA adapter."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.plugins.base import RoutingPlugin
from gateway.routing.interfaces import Filter, SchedulingContext
from gateway.routing.snapshot import EndpointSnapshot


class ServesModelFilter(Filter, RoutingPlugin):
    """Keeps engines whose `/v1/models` lists the request's model, base or adapter."""

    type_name = "serves-model"

    def filter(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[EndpointSnapshot]:
        model = context.request.model
        return [snap for snap in candidates if model in snap.models]

"""`lora-affinity-scorer`: prefer engines that already run the requested LoRA adapter."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from gateway.plugins.base import PluginDeps, PluginParams, RoutingPlugin
from gateway.routing.interfaces import SchedulingContext, Scorer
from gateway.routing.snapshot import EndpointSnapshot


class LoraAffinityScorer(Scorer, RoutingPlugin):
    """For an adapter request: 1 where the adapter is active (running or waiting requests
    use it), `roomScore` where the engine has a free adapter slot (or its slots are
    unknown), 0 where every slot is taken by other adapters (loading ours would evict one).
    A base-model request scores 1 everywhere: the scorer has no opinion.
    """

    type_name = "lora-affinity-scorer"

    class Params(PluginParams):
        room_score: float = Field(default=0.5, ge=0, le=1)

    def __init__(self, params: Params, deps: PluginDeps) -> None:
        self._room = params.room_score

    def score(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[float]:
        model = context.request.model
        if not any(model in snap.adapters for snap in candidates):
            return [1.0] * len(candidates)
        return [self._one(model, snap) for snap in candidates]

    def _one(self, adapter: str, snap: EndpointSnapshot) -> float:
        if adapter in snap.active_adapters:
            return 1.0
        if snap.max_loras is None or len(snap.active_adapters) < snap.max_loras:
            return self._room
        return 0.0

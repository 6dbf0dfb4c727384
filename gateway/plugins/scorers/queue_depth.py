"""`queue-depth-scorer`: fewer requests waiting in the engine's queue scores higher."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from gateway.plugins.base import PluginDeps, PluginParams, RoutingPlugin
from gateway.routing.headroom import headrooms
from gateway.routing.interfaces import SchedulingContext, Scorer
from gateway.routing.snapshot import EndpointSnapshot


class QueueDepthScorer(Scorer, RoutingPlugin):
    """`headroom` of the engine's reported `num_waiting` against the shortest queue.

    A waiting request in vLLM means the engine ran out of KV blocks or sequence slots, so
    the default `slack` is one request: one more waiting than the best candidate halves the
    score. An engine whose metrics are unknown (never scraped, or stale) counts as the
    shortest queue: the in-flight scorer and the prefix bound still see the gateway's own
    requests to it.
    """

    type_name = "queue-depth-scorer"

    class Params(PluginParams):
        slack: float = Field(default=1.0, gt=0)
        slack_ratio: float = Field(default=0.25, ge=0)

    def __init__(self, params: Params, deps: PluginDeps) -> None:
        self._slack = params.slack
        self._slack_ratio = params.slack_ratio

    def score(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[float]:
        known = [snap.num_waiting for snap in candidates if snap.num_waiting is not None]
        if not known:
            return [1.0] * len(candidates)
        least = min(known)
        waiting = [least if snap.num_waiting is None else snap.num_waiting for snap in candidates]
        return headrooms(waiting, slack=self._slack, slack_ratio=self._slack_ratio)

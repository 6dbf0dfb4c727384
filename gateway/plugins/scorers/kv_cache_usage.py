"""`kv-cache-usage-scorer`: more free KV cache scores higher."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.plugins.base import RoutingPlugin
from gateway.routing.interfaces import SchedulingContext, Scorer
from gateway.routing.snapshot import EndpointSnapshot


class KVCacheUsageScorer(Scorer, RoutingPlugin):
    """`1 - kv_usage`. An engine whose usage is unknown gets the mean of the known scores
    (1 when none is known), so missing metrics neither favour nor punish it.

    vLLM's usage counts blocks referenced by running requests, not cached-but-free ones, so
    this is headroom for new work, not a measure of cache warmth.
    """

    type_name = "kv-cache-usage-scorer"

    def score(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[float]:
        scores = [None if s.kv_usage is None else 1.0 - s.kv_usage for s in candidates]
        known = [score for score in scores if score is not None]
        fill = sum(known) / len(known) if known else 1.0
        return [fill if score is None else score for score in scores]

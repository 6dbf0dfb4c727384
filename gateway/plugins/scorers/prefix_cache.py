"""`prefix-cache-scorer`: the share of the prompt an engine holds, bounded by its load."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from gateway.plugins.base import PluginDeps, PluginParams, RoutingPlugin
from gateway.prefix.hashing import max_reusable_blocks
from gateway.routing.headroom import headroom
from gateway.routing.interfaces import SchedulingContext, Scorer
from gateway.routing.snapshot import EndpointSnapshot


class PrefixCacheScorer(Scorer, RoutingPlugin):
    """Matched leading blocks / reusable blocks of the prompt, times the engine's headroom.

    The match comes from `prefix-match-producer` (no lookup: every score is 0). The
    reusable blocks exclude the prompt's last token, which vLLM always recomputes.

    The load bound: an engine's match ratio is multiplied by `headroom(load, least)` over
    the candidates' loads (`EndpointSnapshot.load`: the gateway's in-flight count or the
    engine's reported running + waiting, whichever is larger). An engine holding the prefix
    while carrying `loadSlack` (or `loadSlackRatio` × the least load, if larger) more
    requests than the least-loaded candidate keeps half its prefix score, and less the
    busier it gets, so a hot prefix cannot pile every request onto one engine: past a few
    requests of excess, the load scorers of the profile win and the prefix spreads (the
    engine that takes it next caches it too). `loadSlack: null` removes the bound (the
    naive scorer of the `prefix-only` baseline, kept to show the collapse).
    """

    type_name = "prefix-cache-scorer"
    prefix_aware = True

    class Params(PluginParams):
        load_slack: float | None = Field(default=4.0, gt=0)
        load_slack_ratio: float = Field(default=0.25, ge=0)

    def __init__(self, params: Params, deps: PluginDeps) -> None:
        self._block_size = deps.block_size
        self._slack = params.load_slack
        self._slack_ratio = params.load_slack_ratio

    def score(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[float]:
        matches = context.prefix_matches
        usable = self._usable_blocks(context)
        if not matches or usable == 0:
            return [0.0] * len(candidates)
        ratios = [min(matches.get(snap.id, 0), usable) / usable for snap in candidates]
        if self._slack is None:
            return ratios
        least = min(snap.load for snap in candidates)
        slack, ratio = self._slack, self._slack_ratio
        return [
            r * headroom(snap.load, least, slack=slack, slack_ratio=ratio) if r else 0.0
            for r, snap in zip(ratios, candidates, strict=True)
        ]

    def _usable_blocks(self, context: SchedulingContext) -> int:
        prompt = context.prompt
        blocks = len(prompt.block_hashes)
        if prompt.token_count:
            blocks = min(blocks, max_reusable_blocks(prompt.token_count, self._block_size))
        return blocks

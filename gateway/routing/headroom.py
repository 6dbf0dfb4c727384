"""How much an engine's extra load should count against it, relative to its peers.

Load scorers and the prefix scorer's load bound share one curve: a candidate carrying
`excess` more requests than the least-loaded candidate keeps the fraction
`allowed / (allowed + excess)` of its score, where `allowed = max(slack, slack_ratio × least)`.
So the least-loaded candidate keeps everything, one carrying `allowed` more keeps half, and
the fraction keeps falling, without ever saturating the way a min-max normalisation does
(under min-max, 3 vs 2 requests is as bad as 300 vs 2, which lets a constant cache bonus
outweigh any queue: the collapse seen in routers that do not count load on every path).
`slack_ratio` keeps the curve meaningful on big engines, where a few requests more are noise.
"""

from __future__ import annotations

from collections.abc import Sequence


def headroom(load: float, least: float, *, slack: float, slack_ratio: float) -> float:
    """The fraction in (0, 1] of its score a candidate with `load` keeps; `least` is the
    smallest load among the candidates. `slack` > 0 is in the load's unit (requests)."""
    excess = load - least
    if excess <= 0:
        return 1.0
    allowed = max(slack, slack_ratio * least)
    return allowed / (allowed + excess)


def headrooms(loads: Sequence[float], *, slack: float, slack_ratio: float) -> list[float]:
    """`headroom` of every load against the smallest of them."""
    if not loads:
        return []
    least = min(loads)
    return [headroom(load, least, slack=slack, slack_ratio=slack_ratio) for load in loads]

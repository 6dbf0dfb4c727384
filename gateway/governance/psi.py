"""Population stability index: how far one distribution moved from another.

    PSI = Σ_i (a_i − e_i) · ln(a_i / e_i)

over the bins' proportions of the expected (baseline) and actual (current) windows. A bin
empty on one side would make the term infinite, so every proportion is floored at
`epsilon` first (the usual practice; 1e-4 by default). Reading it: below 0.1 stable,
0.1–0.25 a moderate shift, above 0.25 a significant one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DEFAULT_EPSILON = 1e-4


def population_stability_index(
    expected: Sequence[float], actual: Sequence[float], *, epsilon: float = DEFAULT_EPSILON
) -> float:
    """PSI of two histograms over the same bins (counts or proportions; each is normalized).

    Raises `ValueError` when the bins differ in number or either side is empty.
    """
    if len(expected) != len(actual):
        raise ValueError(f"bins differ: {len(expected)} expected, {len(actual)} actual")
    expected_total, actual_total = sum(expected), sum(actual)
    if expected_total <= 0 or actual_total <= 0:
        raise ValueError("a histogram without observations has no distribution")
    total = 0.0
    for e_count, a_count in zip(expected, actual, strict=True):
        e = max(e_count / expected_total, epsilon)
        a = max(a_count / actual_total, epsilon)
        total += (a - e) * math.log(a / e)
    return total

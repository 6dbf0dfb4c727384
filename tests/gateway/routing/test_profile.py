from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from gateway.plugins.base import NoParams
from gateway.plugins.pickers.max_score import MaxScorePicker
from gateway.routing.interfaces import SchedulingContext, Scorer
from gateway.routing.profile import PluginContractError, Profile, WeightedScorer
from gateway.routing.snapshot import EndpointSnapshot
from tests.gateway.plugins.pool import context, deps, snap


class Fixed(Scorer):
    def __init__(self, *scores: float) -> None:
        self.scores = list(scores)

    def score(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[float]:
        return self.scores[: len(candidates)]


def _profile(*scorers: tuple[Scorer, float]) -> Profile:
    weighted = tuple(WeightedScorer(f"s{i}", s, w) for i, (s, w) in enumerate(scorers))
    return Profile("p", (), (), weighted, MaxScorePicker(NoParams(), deps()))


POOL = [snap("a"), snap("b"), snap("c")]


@pytest.mark.parametrize(
    ("scorers", "expected"),
    [
        pytest.param([(Fixed(1, 0.5, 0), 2)], [2, 1, 0], id="weighted"),
        pytest.param([(Fixed(1, 0, 0), 3), (Fixed(0, 1, 0.5), 2)], [3, 2, 1], id="summed"),
        pytest.param([(Fixed(7, -1, 0.5), 1)], [1, 0, 0.5], id="clamped"),
        pytest.param([(Fixed(math.nan, math.inf, -math.inf), 1)], [0, 1, 0], id="nan-and-inf"),
        pytest.param([(Fixed(1, 1, 1), 0)], [0, 0, 0], id="zero-weight"),
        pytest.param([], [0, 0, 0], id="no-scorers"),
    ],
)
def test_score_is_the_weighted_sum_of_clamped_scores(
    scorers: list[tuple[Scorer, float]], expected: list[float]
) -> None:
    scored = _profile(*scorers).score(context(), POOL)
    assert [item.score for item in scored] == pytest.approx(expected)


def test_choose_picks_the_best() -> None:
    chosen = _profile((Fixed(0.1, 0.9, 0.5), 1)).choose(context(), POOL)
    assert chosen is not None
    assert chosen.endpoint.id == "b"


def test_a_scorer_returning_the_wrong_count_is_a_contract_error() -> None:
    with pytest.raises(PluginContractError, match="returned 2 scores for 3 candidates"):
        _profile((Fixed(1, 1), 1)).score(context(), POOL)

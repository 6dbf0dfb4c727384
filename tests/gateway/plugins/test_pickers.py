from __future__ import annotations

from collections import Counter

import pytest

from gateway.plugins.base import NoParams
from gateway.plugins.pickers.max_score import MaxScorePicker
from gateway.plugins.pickers.random_picker import RandomPicker
from gateway.plugins.pickers.round_robin import RoundRobinPicker
from gateway.plugins.pickers.weighted_random import WeightedRandomPicker
from gateway.routing.interfaces import Picker, ScoredEndpoint
from tests.gateway.plugins.pool import context, deps, snap


def _scored(*scores: float) -> list[ScoredEndpoint]:
    return [ScoredEndpoint(snap(f"e{i}"), score) for i, score in enumerate(scores)]


def _picks(picker: Picker, scored: list[ScoredEndpoint], times: int = 4000) -> Counter[str]:
    return Counter(picker.pick(context(), scored).endpoint.id for _ in range(times))


def test_max_score_takes_the_best() -> None:
    assert _picks(MaxScorePicker(NoParams(), deps()), _scored(1.0, 3.5, 2.0), 50) == {"e1": 50}


def test_max_score_breaks_ties_at_random() -> None:
    picks = _picks(MaxScorePicker(NoParams(), deps()), _scored(2.0, 0.5, 2.0))
    assert set(picks) == {"e0", "e2"}
    assert 1600 < picks["e0"] < 2400


def test_weighted_random_is_proportional_and_skips_zero() -> None:
    picks = _picks(WeightedRandomPicker(NoParams(), deps()), _scored(0.0, 1.0, 3.0))
    assert picks["e0"] == 0
    assert 2.5 < picks["e2"] / picks["e1"] < 3.5


@pytest.mark.parametrize("cls", [WeightedRandomPicker, RandomPicker], ids=["weighted", "random"])
def test_uniform_when_scores_say_nothing(cls: type[WeightedRandomPicker | RandomPicker]) -> None:
    picks = _picks(cls(NoParams(), deps()), _scored(0.0, 0.0, 0.0, 0.0))
    assert all(800 < count < 1200 for count in picks.values()), picks


def test_random_ignores_scores() -> None:
    picks = _picks(RandomPicker(NoParams(), deps()), _scored(0.0, 5.0))
    assert 1800 < picks["e0"] < 2200


def test_round_robin_cycles_whatever_the_scores() -> None:
    assert _picks(RoundRobinPicker(NoParams(), deps()), _scored(0.0, 9.0, 1.0), 30) == {
        "e0": 10,
        "e1": 10,
        "e2": 10,
    }


def test_seeded_pickers_repeat_their_choices() -> None:
    scored = _scored(1.0, 1.0, 1.0, 1.0)
    first = MaxScorePicker(NoParams(), deps(seed=3))
    second = MaxScorePicker(NoParams(), deps(seed=3))
    assert [first.pick(context(), scored).endpoint.id for _ in range(20)] == [
        second.pick(context(), scored).endpoint.id for _ in range(20)
    ]

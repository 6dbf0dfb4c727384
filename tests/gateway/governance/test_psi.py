"""Population stability index: the formula, the empty-bin floor, the inputs it refuses."""

from __future__ import annotations

import math

import pytest

from gateway.governance.psi import population_stability_index


@pytest.mark.parametrize(
    ("expected", "actual", "psi"),
    [
        pytest.param([50, 50], [50, 50], 0.0, id="identical"),
        pytest.param([1, 3], [0.25, 0.75], 0.0, id="counts-equal-proportions"),
        pytest.param(
            [50, 50],
            [60, 40],
            0.1 * math.log(1.2) + 0.1 * math.log(1.25),
            id="small-shift",
        ),
        pytest.param(
            [90, 10], [50, 50], 0.4 * math.log(0.9 / 0.5) + 0.4 * math.log(5), id="large-shift"
        ),
        pytest.param(
            [100, 0],
            [50, 50],
            0.5 * math.log(2) + (0.5 - 1e-4) * math.log(0.5 / 1e-4),
            id="empty-bin-floored",
        ),
        pytest.param([10, 20, 70], [70, 20, 10], 2 * 0.6 * math.log(7), id="symmetric-swap"),
    ],
)
def test_psi(expected: list[float], actual: list[float], psi: float) -> None:
    assert population_stability_index(expected, actual) == pytest.approx(psi, rel=1e-9)


def test_psi_is_symmetric_and_never_negative() -> None:
    a, b = [5, 1, 9, 3], [2, 8, 4, 4]
    assert population_stability_index(a, b) == pytest.approx(population_stability_index(b, a))
    assert population_stability_index(a, b) > 0


@pytest.mark.parametrize(
    ("expected", "actual", "problem"),
    [
        pytest.param([1, 2], [1, 2, 3], "bins differ", id="bins-differ"),
        pytest.param([0, 0], [1, 1], "without observations", id="empty-expected"),
        pytest.param([1, 1], [], "bins differ", id="no-bins"),
    ],
)
def test_psi_refuses(expected: list[float], actual: list[float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        population_stability_index(expected, actual)

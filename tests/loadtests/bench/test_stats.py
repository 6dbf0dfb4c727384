from __future__ import annotations

import math

import pytest

from loadtests.bench.stats import Summary, percentile


@pytest.mark.parametrize(
    ("samples", "q", "expected"),
    [
        pytest.param([5.0], 99, 5.0, id="single"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 50, 2.5, id="median-even"),
        pytest.param([3.0, 1.0, 2.0], 50, 2.0, id="median-unsorted"),
        pytest.param(list(range(101)), 99, 99.0, id="p99-exact-rank"),
        pytest.param([0.0, 10.0], 90, 9.0, id="interpolated"),
        pytest.param([1.0, 2.0], 0, 1.0, id="min"),
        pytest.param([1.0, 2.0], 100, 2.0, id="max"),
    ],
)
def test_percentile_matches_numpy_linear(samples: list[float], q: float, expected: float) -> None:
    assert percentile(samples, q) == pytest.approx(expected)


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_summary_of_nothing_is_nan() -> None:
    summary = Summary.of([])
    assert summary.count == 0
    assert math.isnan(summary.p50)

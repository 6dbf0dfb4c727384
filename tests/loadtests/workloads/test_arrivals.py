from __future__ import annotations

import itertools
import statistics

import pytest

from loadtests.bench.trace import TraceRecord
from loadtests.workloads.arrivals import limited, poisson_offsets, seeded
from loadtests.workloads.interfaces import RunSpec
from loadtests.workloads.text import TextSource
from tests.loadtests.workloads.helpers import gaps, records


@pytest.mark.parametrize("rate", [0.5, 10.0, 400.0])
def test_poisson_gaps_are_exponential_with_mean_one_over_rate(rate: float) -> None:
    offsets = list(itertools.islice(poisson_offsets(seeded(1, "arrivals"), rate), 20_000))
    between = list(gaps(offsets))
    mean = statistics.fmean(between)
    assert mean == pytest.approx(1 / rate, rel=0.05)
    # An exponential distribution's standard deviation equals its mean.
    assert statistics.pstdev(between) == pytest.approx(mean, rel=0.1)


def test_workload_arrivals_follow_the_rate(text: TextSource) -> None:
    trace = records(text, "overhead", RunSpec(seed=4, rate=50.0, count=5000))
    mean = statistics.fmean(gaps([r.offset for r in trace]))
    assert mean == pytest.approx(1 / 50.0, rel=0.06)


def _records(offsets: list[float]) -> list[TraceRecord]:
    return [TraceRecord(offset, {"messages": []}) for offset in offsets]


@pytest.mark.parametrize(
    ("duration", "count", "kept"),
    [
        pytest.param(None, None, 5, id="unbounded"),
        pytest.param(2.5, None, 3, id="duration"),
        pytest.param(None, 2, 2, id="count"),
        pytest.param(2.5, 1, 1, id="count-first"),
        pytest.param(10.0, 4, 4, id="both"),
    ],
)
def test_limited_stops_at_duration_or_count(
    duration: float | None, count: int | None, kept: int
) -> None:
    run = RunSpec(rate=1.0, duration=duration, count=count)
    assert len(list(limited(_records([0.5, 1.0, 2.5, 3.0, 4.0]), run))) == kept


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"rate": 0.0}, id="zero-rate"),
        pytest.param({"rate": float("inf")}, id="infinite-rate"),
        pytest.param({"duration": 0.0}, id="zero-duration"),
        pytest.param({"count": 0}, id="zero-count"),
    ],
)
def test_run_spec_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RunSpec(**kwargs)  # type: ignore[arg-type]

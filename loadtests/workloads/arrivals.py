"""Seeded randomness and Poisson arrival times for the workloads."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator

from loadtests.bench.trace import TraceRecord
from loadtests.workloads.interfaces import RunSpec

OFFSET_DIGITS = 6  # offsets are rounded to microseconds, which keeps traces readable


def seeded(seed: int, purpose: str) -> random.Random:
    """An RNG for one purpose; separate streams so that e.g. changing the rate (arrivals)
    does not change the prompts (content)."""
    return random.Random(f"kvgate:{seed}:{purpose}")


def poisson_offsets(rng: random.Random, rate: float) -> Iterator[float]:
    """Arrival times (s) of a Poisson process of `rate` per second from 0, forever."""
    offset = 0.0
    while True:
        offset += rng.expovariate(rate)
        yield round(offset, OFFSET_DIGITS)


def limited(records: Iterable[TraceRecord], run: RunSpec) -> Iterator[TraceRecord]:
    """Records up to `run.duration` seconds and `run.count` requests."""
    kept = records if run.count is None else itertools.islice(records, run.count)
    for record in kept:
        if run.duration is not None and record.offset > run.duration:
            return
        yield record


def require_bound(run: RunSpec, workload: str) -> None:
    if not run.bounded:
        raise ValueError(f"workload {workload!r} is endless: give a duration or a count")

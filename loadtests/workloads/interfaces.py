"""What every workload provides, and the run settings they all share."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol

from loadtests.bench.trace import TraceRecord
from loadtests.workloads.text import TextSource

DEFAULT_MODEL = "Qwen/Qwen2.5-7B-Instruct"


@dataclass(frozen=True)
class RunSpec:
    """How many requests arrive and when, shared by all workloads.

    `rate`: mean arrivals per second (Poisson); the trace ends at the first of `duration`
    seconds, `count` requests, or the workload's own end (shared-prefix and multi-turn have
    one; the others need `duration` or `count`). `seed` fixes every random choice.
    """

    seed: int = 0
    rate: float = 1.0
    duration: float | None = None
    count: int | None = None
    model: str = DEFAULT_MODEL

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate must be > 0 requests/s, got {self.rate}")
        if self.duration is not None and not self.duration > 0:
            raise ValueError(f"duration must be > 0 s, got {self.duration}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"count must be ≥ 1, got {self.count}")

    @property
    def bounded(self) -> bool:
        return self.duration is not None or self.count is not None


class Workload(Protocol):
    """A workload: frozen, validated parameters (with defaults) that generate a trace.

    `records` yields records with non-decreasing offsets; it must draw randomness only from
    RNGs seeded by `run.seed`, so the same inputs give the same records.
    """

    name: ClassVar[str]

    def records(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]: ...

"""What governance reports to the metrics module, read at each scrape (plain data)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(slots=True)
class SinkStats:
    """Monotonic counters of one queued sink, and its queue depth now."""

    written: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    """By reason: `queue_full`, `error`, `shutdown`."""
    queued: int = 0


@dataclass(frozen=True, slots=True)
class WindowStats:
    requests: int
    refusal_rate: float | None
    guard_trigger_rate: float | None
    finish_reasons: Mapping[str, float]
    """Reason → share of the window's answers."""
    output_tokens: Mapping[str, float]
    """Bucket upper bound → share of the answers with a known length."""


@dataclass(frozen=True, slots=True)
class SeriesStats:
    model: str
    version: str
    baseline_complete: bool
    baseline: WindowStats
    current: WindowStats
    psi: Mapping[str, float]
    """Distribution → PSI of current against baseline; empty until both windows count."""


@dataclass(frozen=True, slots=True)
class MonitorStats:
    series: tuple[SeriesStats, ...] = ()
    observed: int = 0
    dropped: int = 0
    evicted_series: int = 0


@dataclass(frozen=True, slots=True)
class GovernanceStats:
    sinks: tuple[tuple[str, SinkStats], ...] = ()
    monitor: MonitorStats | None = None

"""The output-distribution monitor: does a model version still answer the way it did?

Per (model, version) series it keeps two windows of four distributions of its answers:

- `finish_reason`: stop, length, tool_calls, content_filter, other, none (no reason seen);
- `output_tokens`: completion tokens (the engine's usage, else the streamed event count) in
  buckets up to 16, 64, 256, 1024, 4096 and above;
- `refusal`: whether the answer opens with a refusal phrase (`RefusalDetector`);
- `guard_trigger`: whether any guard flagged, redacted or blocked something.

The *baseline* window is a series' first `baselineRequests` answers (or those of its first
`baselineSeconds`), then frozen; the *current* window is its latest `currentRequests`
answers. For each distribution the population stability index of current against baseline
is computed when the metrics are scraped (never per request), once both windows hold
`minRequests` answers. Only answered requests are observed (2xx, relayed to the end); a
request that never reached an engine has no model version.

Observations are queued by `offer` (the request path: one bounded append) and processed by
the monitor's own task, which is where output text is decoded and searched; a full queue
drops and counts. Series are bounded (`maxSeries`, least recently seen dropped), and so are
every window and metric label.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.governance.config import MonitorConfig
from gateway.governance.psi import population_stability_index
from gateway.governance.refusal import BUILTIN_PHRASES, RefusalDetector
from gateway.governance.stats import MonitorStats, SeriesStats, WindowStats
from gateway.openai.answer import Answer

FINISH_REASON = "finish_reason"
OUTPUT_TOKENS = "output_tokens"
REFUSAL = "refusal"
GUARD_TRIGGER = "guard_trigger"
STATS = (FINISH_REASON, OUTPUT_TOKENS, REFUSAL, GUARD_TRIGGER)

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "other", "none")
TOKEN_EDGES = (16, 64, 256, 1024, 4096)
TOKEN_BUCKETS = (*(str(edge) for edge in TOKEN_EDGES), "+Inf")
"""Bucket labels: the upper bound, inclusive (`le`), as Prometheus names them."""
_BINS: tuple[tuple[str, ...], ...] = (FINISH_REASONS, TOKEN_BUCKETS, ("no", "yes"), ("no", "yes"))
_FINISH_INDEX = {reason: index for index, reason in enumerate(FINISH_REASONS)}
_OTHER, _NONE = _FINISH_INDEX["other"], _FINISH_INDEX["none"]
_SKIP = -1  # a distribution this answer says nothing about
_BATCH = 64  # samples processed before yielding the event loop

Observation = tuple[int, int, int, int]
"""The bin of one answer in each distribution of `STATS` (`_SKIP`: not observed)."""


@dataclass(frozen=True, slots=True)
class MonitorSample:
    """One answered request, as the record stage hands it over."""

    model: str
    """The bounded model label."""
    version: str
    answer: Answer
    output_tokens: int | None
    guard_triggered: bool


class _Histograms:
    __slots__ = ("counts", "requests")

    def __init__(self) -> None:
        self.counts = [[0] * len(bins) for bins in _BINS]
        self.requests = 0

    def add(self, observation: Observation, step: int = 1) -> None:
        self.requests += step
        for counts, index in zip(self.counts, observation, strict=True):
            if index != _SKIP:
                counts[index] += step

    def stats(self) -> WindowStats:
        finish, tokens, refusal, guard = self.counts
        return WindowStats(
            self.requests,
            _rate(refusal),
            _rate(guard),
            _shares(FINISH_REASONS, finish),
            _shares(TOKEN_BUCKETS, tokens),
        )


class _Series:
    __slots__ = ("baseline", "complete", "current", "started_at", "window")

    def __init__(self, started_at: float, size: int) -> None:
        self.started_at = started_at
        self.baseline = _Histograms()
        self.complete = False
        self.current = _Histograms()
        self.window: deque[Observation] = deque(maxlen=size)


class OutputMonitor:
    """Owned by the governance stage: `start` it on the event loop, `aclose` it at shutdown.
    `clock` (seconds, monotonic) times the baseline period."""

    def __init__(
        self, config: MonitorConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        builtin = BUILTIN_PHRASES if config.builtin_refusal_phrases else ()
        self._config = config
        self._clock = clock
        self._refusals = RefusalDetector((*builtin, *config.refusal_phrases))
        self._series: OrderedDict[tuple[str, str], _Series] = OrderedDict()
        self._queue: deque[MonitorSample] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._observed = 0
        self._dropped = 0
        self._evicted = 0

    @property
    def scan_bytes(self) -> int:
        """Bytes of each event stream the relay should keep for `output_scan_chars`."""
        return self._config.output_scan_bytes

    def offer(self, sample: MonitorSample) -> None:
        """Queue one answer for observation; never blocks (a full queue drops it)."""
        if len(self._queue) >= self._config.queue_capacity:
            self._dropped += 1
            return
        self._queue.append(sample)
        self._idle.clear()
        self._wake.set()

    def observe(self, sample: MonitorSample) -> None:
        """Count one answer in its series' windows (synchronous; the task's work)."""
        observation = self.classify(sample)
        key = (sample.model, sample.version)
        series = self._series.get(key)
        if series is None:
            series = self._new_series(key)
        else:
            self._series.move_to_end(key)
        self._add(series, observation)
        self._observed += 1

    def classify(self, sample: MonitorSample) -> Observation:
        reasons = sample.answer.finish_reasons
        finish = _FINISH_INDEX.get(reasons[0], _OTHER) if reasons else _NONE
        tokens = sample.output_tokens
        bucket = _SKIP if tokens is None else bisect.bisect_left(TOKEN_EDGES, tokens)
        text = sample.answer.output_text(self._config.output_scan_chars)
        return (
            finish,
            bucket,
            int(self._refusals.is_refusal(text)),
            int(sample.guard_triggered),
        )

    def stats(self) -> MonitorStats:
        return MonitorStats(
            tuple(self._series_stats(key, series) for key, series in self._series.items()),
            self._observed,
            self._dropped,
            self._evicted,
        )

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="kvgate-output-monitor")

    async def drained(self) -> None:
        """Wait until every sample offered so far was observed (tests)."""
        await self._idle.wait()

    async def aclose(self) -> None:
        """Stop observing; what is still queued is dropped (the windows die with the process)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._dropped += len(self._queue)
        self._queue.clear()
        self._idle.set()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            for _ in range(min(_BATCH, len(self._queue))):
                self.observe(self._queue.popleft())
            await asyncio.sleep(0)  # a burst of samples must not hold the loop

    def _new_series(self, key: tuple[str, str]) -> _Series:
        while len(self._series) >= self._config.max_series:
            self._series.popitem(last=False)
            self._evicted += 1
        series = _Series(self._clock(), self._config.current_requests)
        self._series[key] = series
        return series

    def _add(self, series: _Series, observation: Observation) -> None:
        config = self._config
        if not series.complete:
            series.baseline.add(observation)
            if config.baseline_seconds is None:
                series.complete = series.baseline.requests >= config.baseline_requests
            else:
                series.complete = (
                    self._clock() - series.started_at >= config.baseline_seconds
                    and series.baseline.requests >= config.min_requests
                )
        window = series.window
        if len(window) == window.maxlen:
            series.current.add(window[0], -1)
        window.append(observation)
        series.current.add(observation)

    def _series_stats(self, key: tuple[str, str], series: _Series) -> SeriesStats:
        baseline, current = series.baseline, series.current
        psi: dict[str, float] = {}
        minimum = self._config.min_requests
        if series.complete and current.requests >= minimum and baseline.requests >= minimum:
            for stat, expected, actual in zip(STATS, baseline.counts, current.counts, strict=True):
                if sum(expected) and sum(actual):
                    psi[stat] = population_stability_index(expected, actual)
        return SeriesStats(key[0], key[1], series.complete, baseline.stats(), current.stats(), psi)


def _rate(counts: Sequence[int]) -> float | None:
    total = counts[0] + counts[1]
    return counts[1] / total if total else None


def _shares(labels: Sequence[str], counts: Sequence[int]) -> dict[str, float]:
    total = sum(counts)
    if not total:
        return {}
    return {label: count / total for label, count in zip(labels, counts, strict=True)}

"""The output monitor: classification, refusal phrases, windows, drift, bounds."""

from __future__ import annotations

import pytest

from gateway.governance.config import MonitorConfig
from gateway.governance.monitor import MonitorSample, OutputMonitor
from gateway.governance.refusal import BUILTIN_PHRASES, RefusalDetector
from gateway.openai.answer import Answer

MODEL = "m"


def config(**values: object) -> MonitorConfig:
    defaults: dict[str, object] = {
        "baseline_requests": 4,
        "current_requests": 4,
        "min_requests": 2,
    }
    return MonitorConfig.model_validate({**defaults, **values})


def sample(
    finish: str | None = "stop",
    tokens: int | None = 10,
    text: str = "Paris.",
    triggered: bool = False,
    version: str = "v1",
) -> MonitorSample:
    answer = Answer((finish,) if finish else (), MODEL, text=text)
    return MonitorSample(MODEL, version, answer, tokens, triggered)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("item", "observation"),
    [
        pytest.param(sample(), (0, 0, 0, 0), id="stop-short"),
        pytest.param(sample("length", 16), (1, 0, 0, 0), id="length-at-edge"),
        pytest.param(sample("tool_calls", 17), (2, 1, 0, 0), id="tool-calls-over-edge"),
        pytest.param(sample("content_filter", 300, triggered=True), (3, 3, 0, 1), id="filtered"),
        pytest.param(sample("abort", 5000), (4, 5, 0, 0), id="other-reason-long"),
        pytest.param(sample(None, None), (5, -1, 0, 0), id="no-reason-unknown-length"),
        pytest.param(
            sample(text="I'm sorry, but I can't help with that."), (0, 0, 1, 0), id="refusal"
        ),
        pytest.param(sample(triggered=True), (0, 0, 0, 1), id="guard"),
    ],
)
def test_classify(item: MonitorSample, observation: tuple[int, int, int, int]) -> None:
    assert OutputMonitor(config()).classify(item) == observation


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        pytest.param("I'm sorry, but I can't help with that.", True, id="en"),
        pytest.param("I’m sorry, but I can’t do that.", True, id="en-curly-apostrophes"),
        pytest.param("i CANNOT   assist with\nthat request", True, id="en-case-and-space"),
        pytest.param("Sure! As an AI language model, I think…", True, id="en-anywhere"),
        pytest.param("抱歉，我无法提供这方面的帮助。", True, id="zh-fullwidth-comma"),
        pytest.param("抱歉,我无法回答", True, id="zh-ascii-comma"),
        pytest.param("很抱歉，我不能协助。", True, id="zh-very-sorry"),
        pytest.param("I can help with that: Paris is the capital.", False, id="en-helpful"),
        pytest.param("巴黎是法国的首都。", False, id="zh-helpful"),
        pytest.param("", False, id="empty"),
    ],
)
def test_builtin_refusal_phrases(text: str, refusal: bool) -> None:
    assert RefusalDetector(BUILTIN_PHRASES).is_refusal(text) is refusal


def test_policy_phrases_add_to_or_replace_the_builtin_ones() -> None:
    custom = OutputMonitor(config(refusal_phrases=("Request denied",)))
    only_custom = OutputMonitor(
        config(refusal_phrases=("Request denied",), builtin_refusal_phrases=False)
    )
    sorry = sample(text="I'm unable to do that")
    assert custom.classify(sample(text="request DENIED."))[2] == 1
    assert custom.classify(sorry)[2] == 1
    assert only_custom.classify(sorry)[2] == 0


def test_baseline_freezes_and_the_current_window_slides() -> None:
    monitor = OutputMonitor(config())
    for _ in range(4):
        monitor.observe(sample("stop"))
    [series] = monitor.stats().series
    assert series.baseline_complete
    assert series.psi["finish_reason"] == pytest.approx(0.0)
    for _ in range(4):
        monitor.observe(sample("length", text="I'm sorry, I can't."))
    [series] = monitor.stats().series
    assert series.baseline.requests == 4
    assert series.baseline.finish_reasons["stop"] == 1.0
    assert series.current.requests == 4
    assert series.current.finish_reasons["length"] == 1.0
    assert series.baseline.refusal_rate == 0.0
    assert series.current.refusal_rate == 1.0
    assert series.psi["finish_reason"] > 0.25
    assert series.psi["refusal"] > 0.25
    assert series.psi["output_tokens"] == pytest.approx(0.0)


def test_no_drift_until_both_windows_hold_min_requests() -> None:
    monitor = OutputMonitor(config(baseline_requests=4, min_requests=3, current_requests=3))
    for count in range(1, 5):
        monitor.observe(sample())
        [series] = monitor.stats().series
        assert (series.psi != {}) is (count >= 4), count


def test_baseline_by_period() -> None:
    clock = FakeClock()
    monitor = OutputMonitor(config(baseline_seconds=60.0, min_requests=2), clock=clock)
    for _ in range(10):  # more than baselineRequests, all within the period
        monitor.observe(sample())
    assert not monitor.stats().series[0].baseline_complete
    clock.now = 61.0
    monitor.observe(sample())
    [series] = monitor.stats().series
    assert series.baseline_complete
    assert series.baseline.requests == 11
    monitor.observe(sample("length"))
    assert monitor.stats().series[0].baseline.requests == 11


def test_series_are_per_version_and_bounded() -> None:
    monitor = OutputMonitor(config(max_series=2))
    for version in ("v1", "v2", "v1", "v3"):
        monitor.observe(sample(version=version))
    stats = monitor.stats()
    assert [(s.model, s.version) for s in stats.series] == [(MODEL, "v1"), (MODEL, "v3")]
    assert stats.evicted_series == 1
    assert stats.observed == 4


def test_rates_per_window() -> None:
    monitor = OutputMonitor(config())
    for triggered in (True, False, False, False):
        monitor.observe(sample(triggered=triggered, tokens=None))
    [series] = monitor.stats().series
    assert series.baseline.guard_trigger_rate == 0.25
    assert series.baseline.output_tokens == {}  # no known lengths
    assert "output_tokens" not in series.psi


async def test_offered_samples_are_observed_by_the_monitor_task() -> None:
    monitor = OutputMonitor(config())
    await monitor.start()
    try:
        for _ in range(3):
            monitor.offer(sample())
        await monitor.drained()
        assert monitor.stats().observed == 3
    finally:
        await monitor.aclose()


async def test_a_full_queue_drops_and_counts() -> None:
    monitor = OutputMonitor(config(queue_capacity=2))  # not started: nothing drains
    for _ in range(5):
        monitor.offer(sample())
    assert monitor.stats().dropped == 3
    await monitor.aclose()
    assert monitor.stats().dropped == 5  # what was still queued at close

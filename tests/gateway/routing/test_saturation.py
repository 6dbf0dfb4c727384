from __future__ import annotations

import pytest

from gateway.discovery.engine_load import EngineLoad
from gateway.routing.saturation import SaturationDetector

NOW = 100.0
FRESH = NOW - 0.5  # within the default stale_after of 1 s
STALE = NOW - 5.0


def load(waiting: int = 0, kv: float | None = 0.1, *, at: float = FRESH) -> EngineLoad:
    return EngineLoad(scraped_at=at, num_waiting=waiting, num_running=8, kv_usage=kv)


DEFAULT = SaturationDetector()
CAPPED = SaturationDetector(max_in_flight=10)
GIE = SaturationDetector(stale_is_saturated=True)


@pytest.mark.parametrize(
    ("detector", "engine", "in_flight", "saturated"),
    [
        pytest.param(DEFAULT, load(), 0, False, id="idle"),
        pytest.param(DEFAULT, load(waiting=5), 0, False, id="queue-at-threshold"),
        pytest.param(DEFAULT, load(waiting=6), 0, True, id="queue-over-threshold"),
        pytest.param(DEFAULT, load(kv=0.8), 0, False, id="kv-at-threshold"),
        pytest.param(DEFAULT, load(kv=0.81), 0, True, id="kv-over-threshold"),
        pytest.param(DEFAULT, load(kv=None), 0, False, id="kv-not-exported"),
        pytest.param(DEFAULT, load(waiting=50, at=STALE), 0, False, id="stale-is-not-evidence"),
        pytest.param(DEFAULT, None, 0, False, id="never-scraped"),
        pytest.param(DEFAULT, load(), 10_000, False, id="no-in-flight-cap-by-default"),
        pytest.param(CAPPED, load(), 9, False, id="below-in-flight-cap"),
        pytest.param(CAPPED, load(), 10, True, id="at-in-flight-cap"),
        pytest.param(CAPPED, None, 10, True, id="in-flight-cap-without-metrics"),
        pytest.param(CAPPED, load(waiting=6), 0, True, id="queue-with-cap"),
        pytest.param(GIE, load(at=STALE), 0, True, id="gie-stale"),
        pytest.param(GIE, None, 0, True, id="gie-missing"),
        pytest.param(GIE, load(at=NOW - 1.0), 0, False, id="gie-exactly-stale-after"),
        pytest.param(
            SaturationDetector(queue_threshold=0), load(waiting=1), 0, True, id="zero-queue"
        ),
        pytest.param(
            SaturationDetector(kv_threshold=0.95), load(kv=0.9), 0, False, id="kv-threshold-set"
        ),
        pytest.param(
            SaturationDetector(stale_after=10.0),
            load(waiting=9, at=STALE),
            0,
            True,
            id="longer-stale-after",
        ),
    ],
)
def test_is_saturated(
    detector: SaturationDetector, engine: EngineLoad | None, in_flight: int, saturated: bool
) -> None:
    assert detector.is_saturated(engine, in_flight, NOW) is saturated


@pytest.mark.parametrize(
    ("engines", "saturated"),
    [
        pytest.param([], True, id="empty-pool"),
        pytest.param([(load(waiting=9), 0), (load(), 0)], False, id="one-has-room"),
        pytest.param([(load(waiting=9), 0), (load(kv=0.99), 0)], True, id="none-has-room"),
        pytest.param([(None, 0)], False, id="unknown-has-room"),
    ],
)
def test_all_saturated(engines: list[tuple[EngineLoad | None, int]], saturated: bool) -> None:
    assert DEFAULT.all_saturated(engines, NOW) is saturated


@pytest.mark.parametrize(
    ("engine", "fresh"),
    [
        pytest.param(load(), True, id="fresh"),
        pytest.param(load(at=STALE), False, id="stale"),
        pytest.param(None, False, id="missing"),
    ],
)
def test_is_fresh(engine: EngineLoad | None, fresh: bool) -> None:
    assert DEFAULT.is_fresh(engine, NOW) is fresh


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"queue_threshold": -1}, id="negative-queue"),
        pytest.param({"kv_threshold": 1.5}, id="kv-above-one"),
        pytest.param({"stale_after": 0.0}, id="zero-stale-after"),
        pytest.param({"max_in_flight": 0}, id="zero-in-flight-cap"),
    ],
)
def test_bad_thresholds(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SaturationDetector(**options)  # type: ignore[arg-type]

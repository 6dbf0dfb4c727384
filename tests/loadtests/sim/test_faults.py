from __future__ import annotations

import pytest

from loadtests.sim.faults import FaultConfigError, FaultController, Faults, error_type_for


def test_patch_merges_and_validates() -> None:
    faults = Faults().merged({"http_status": 503, "http_status_rate": 0.5, "slowdown": 2})
    assert (faults.http_status, faults.http_status_rate, faults.slowdown) == (503, 0.5, 2.0)
    assert faults.merged({"http_status": None}).http_status is None
    assert faults.as_json()["slowdown"] == 2.0


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param({"slowdown": 0.5}, id="speedup"),
        pytest.param({"http_status": 200}, id="not-an-error"),
        pytest.param({"http_status_rate": 2}, id="rate-over-1"),
        pytest.param({"stall_first_byte_s": -1}, id="negative-stall"),
        pytest.param({"cut_after_chunks": -1}, id="negative-cut"),
        pytest.param({"cut_after_chunks": 1.5}, id="fractional-cut"),
        pytest.param({"drop_kv_events": 1}, id="int-for-bool"),
        pytest.param({"slowdown": None}, id="null-slowdown"),
        pytest.param({"unknown": 1}, id="unknown-field"),
    ],
)
def test_bad_patches_raise(patch: dict[str, object]) -> None:
    with pytest.raises(FaultConfigError):
        Faults().merged(patch)


def test_controller_applies_side_effects_on_every_change() -> None:
    slowdowns: list[float] = []
    drops: list[bool] = []
    controller = FaultController(
        Faults(slowdown=2.0), apply_slowdown=slowdowns.append, apply_kv_drop=drops.append
    )
    assert slowdowns == []  # nothing is touched until apply()
    controller.apply()
    controller.update({"drop_kv_events": True})
    controller.update({"slowdown": 1.0, "drop_kv_events": False})
    assert slowdowns == [2.0, 2.0, 1.0]
    assert drops == [False, True, False]


def test_http_error_rate() -> None:
    controller = FaultController(
        Faults(), apply_slowdown=lambda _: None, apply_kv_drop=lambda _: None
    )
    assert controller.draw_http_error(controller.current) is None
    always = Faults(http_status=500)
    assert controller.draw_http_error(always) == 500
    half = Faults(http_status=500, http_status_rate=0.5)
    failures = sum(controller.draw_http_error(half) == 500 for _ in range(1000))
    assert 350 < failures < 650
    assert controller.draw_http_error(Faults(http_status=500, http_status_rate=0.0)) is None


@pytest.mark.parametrize(
    ("status", "err_type"),
    [(400, "BadRequestError"), (404, "NotFoundError"), (429, "RateLimitError"),
     (500, "InternalServerError"), (503, "ServiceUnavailableError"), (599, "InternalServerError")],
)  # fmt: skip
def test_error_types(status: int, err_type: str) -> None:
    assert error_type_for(status) == err_type

from __future__ import annotations

from collections import Counter

import pytest

from gateway.discovery.endpoint import Endpoint
from gateway.errors import ModelNotFoundError, NoReadyEngineError
from gateway.openai.prompt import UNTOKENIZED
from gateway.routing.pickers import LeastInFlightPicker, RoundRobinPicker, build_picker
from gateway.routing.request import InferenceRequest
from gateway.routing.scheduler import Scheduler
from gateway.routing.snapshot import EndpointSnapshot, PoolSnapshot
from gateway.types import RequestKind

REQUEST = InferenceRequest("r", RequestKind.CHAT, "m", b"{}", {})


def _snap(
    name: str, in_flight: int = 0, *, ready: bool = True, models: str = "m"
) -> EndpointSnapshot:
    return EndpointSnapshot(
        Endpoint(name, f"http://{name}"), frozenset(models.split()), ready, in_flight
    )


def test_round_robin_cycles() -> None:
    picker = RoundRobinPicker()
    snaps = [_snap("a", 5), _snap("b"), _snap("c")]
    picks = Counter(picker.pick(REQUEST, snaps).id for _ in range(30))
    assert picks == {"a": 10, "b": 10, "c": 10}


def test_least_in_flight_prefers_idle_and_rotates_ties() -> None:
    picker = LeastInFlightPicker()
    snaps = [_snap("a", 3), _snap("b", 1), _snap("c", 1)]
    picks = Counter(picker.pick(REQUEST, snaps).id for _ in range(10))
    assert picks == {"b": 5, "c": 5}


def test_unknown_picker_name() -> None:
    with pytest.raises(ValueError, match="unknown picker"):
        build_picker("nope")


@pytest.mark.parametrize(
    ("pool", "tried", "expected"),
    [
        pytest.param([_snap("a"), _snap("b")], frozenset({"a"}), "b", id="skips-tried"),
        pytest.param([_snap("a", ready=False), _snap("b")], frozenset(), "b", id="skips-unready"),
        pytest.param(
            [_snap("a", models="x"), _snap("b")], frozenset(), "b", id="skips-other-model"
        ),
        pytest.param([_snap("a", models="m lora1")], frozenset(), "a", id="model-among-several"),
    ],
)
def test_scheduler_filters(
    pool: list[EndpointSnapshot], tried: frozenset[str], expected: str
) -> None:
    scheduler = Scheduler(LeastInFlightPicker())
    chosen = scheduler.schedule(REQUEST, UNTOKENIZED, "default", PoolSnapshot(tuple(pool)), tried)
    assert chosen.id == expected


@pytest.mark.parametrize(
    ("pool", "error"),
    [
        pytest.param([_snap("a", models="x")], ModelNotFoundError, id="unknown-model-404"),
        pytest.param([_snap("a", ready=False)], NoReadyEngineError, id="known-but-unready-503"),
        pytest.param([_snap("a", models="", ready=False)], NoReadyEngineError, id="no-lists-503"),
        pytest.param([], NoReadyEngineError, id="empty-pool-503"),
    ],
)
def test_scheduler_errors(pool: list[EndpointSnapshot], error: type[Exception]) -> None:
    with pytest.raises(error):
        Scheduler(RoundRobinPicker()).schedule(
            REQUEST, UNTOKENIZED, "default", PoolSnapshot(tuple(pool))
        )

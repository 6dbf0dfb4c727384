from __future__ import annotations

import pytest

from gateway.prefix.breaker import CircuitBreaker
from tests.gateway.prefix.support import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(initial_backoff_s=1.0, max_backoff_s=4.0, clock=clock)


def test_closed_allows_everything(breaker: CircuitBreaker) -> None:
    assert breaker.available
    assert all(breaker.allow() for _ in range(10))


def test_failure_blocks_until_the_backoff_then_allows_one_probe(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    breaker.failure()
    assert not breaker.available
    assert not breaker.allow()
    clock.now += 1.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else keeps falling back meanwhile
    breaker.success()
    assert breaker.available
    assert breaker.allow()


@pytest.mark.parametrize(
    ("failures", "backoff"),
    [pytest.param(1, 1.0, id="first"), pytest.param(2, 2.0, id="doubles"), (3, 4.0), (6, 4.0)],
)
def test_backoff_doubles_up_to_the_cap(
    breaker: CircuitBreaker, clock: FakeClock, failures: int, backoff: float
) -> None:
    for _ in range(failures):
        breaker.failure()
    clock.now += backoff - 0.01
    assert not breaker.allow()
    clock.now += 0.01
    assert breaker.allow()


def test_a_released_probe_can_be_claimed_again(breaker: CircuitBreaker, clock: FakeClock) -> None:
    breaker.failure()
    clock.now += 1.0
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_rejects_bad_backoffs() -> None:
    with pytest.raises(ValueError, match="backoff"):
        CircuitBreaker(initial_backoff_s=2.0, max_backoff_s=1.0)

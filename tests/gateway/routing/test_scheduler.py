from __future__ import annotations

import pytest

from gateway.config.defaults import default_policy
from gateway.errors import ModelNotFoundError, NoReadyEngineError
from gateway.plugins.registry import builtin_registry
from gateway.routing.interfaces import SchedulingContext
from gateway.routing.profile import Profile
from gateway.routing.runtime import build_runtime
from gateway.routing.scheduler import schedule
from gateway.routing.snapshot import EndpointSnapshot, PoolSnapshot
from tests.gateway.plugins.pool import context, deps, prompt, request, snap

RUNTIME = build_runtime(default_policy(), builtin_registry(), deps())


def _profile(name: str) -> Profile:
    return RUNTIME.profiles[name]


@pytest.mark.parametrize("profile", sorted(RUNTIME.profiles))
@pytest.mark.parametrize(
    ("pool", "tried", "expected"),
    [
        pytest.param([snap("a"), snap("b")], frozenset({"a"}), "b", id="skips-tried"),
        pytest.param([snap("a", ready=False), snap("b")], frozenset(), "b", id="skips-unready"),
        pytest.param([snap("a", ejected=True), snap("b")], frozenset(), "b", id="skips-ejected"),
        pytest.param([snap("a", models="x"), snap("b")], frozenset(), "b", id="skips-other-model"),
        pytest.param([snap("a", adapters="m", models="base")], frozenset(), "a", id="adapter"),
    ],
)
def test_every_profile_only_sends_to_eligible_engines(
    profile: str, pool: list[EndpointSnapshot], tried: frozenset[str], expected: str
) -> None:
    decision = schedule(_profile(profile), context(), PoolSnapshot(tuple(pool)), tried)
    assert decision.id == expected


@pytest.mark.parametrize(
    ("pool", "error"),
    [
        pytest.param([snap("a", models="x")], ModelNotFoundError, id="unknown-model-404"),
        pytest.param([snap("a", ready=False)], NoReadyEngineError, id="known-but-unready-503"),
        pytest.param([snap("a", models="", ready=False)], NoReadyEngineError, id="no-lists-503"),
        pytest.param([], NoReadyEngineError, id="empty-pool-503"),
    ],
)
def test_errors(pool: list[EndpointSnapshot], error: type[Exception]) -> None:
    with pytest.raises(error):
        schedule(_profile("chat"), context(), PoolSnapshot(tuple(pool)))


def test_decision_carries_the_predicted_blocks() -> None:
    pool = PoolSnapshot((snap("a"), snap("b")))
    decision = schedule(_profile("long-context"), context(tokens=3200, matches={"b": 150}), pool)
    assert (decision.id, decision.cached_blocks) == ("b", 150)


def _long(matches: dict[str, int]) -> SchedulingContext:
    return SchedulingContext(request(), prompt(4000), "long_context", True, matches)


@pytest.mark.parametrize(
    ("profile", "excess", "stays"),
    [
        pytest.param("long-context", 9, True, id="long-holder-keeps-it-at-9-extra"),
        pytest.param("long-context", 10, False, id="long-holder-loses-it-at-10-extra"),
        pytest.param("chat", 3, True, id="chat-holder-keeps-it-at-3-extra"),
        pytest.param("chat", 4, False, id="chat-holder-loses-it-at-4-extra"),
        pytest.param("prefix-only", 100, True, id="prefix-only-never-lets-go"),
    ],
)
def test_the_prefix_bonus_is_bounded_by_load(profile: str, excess: int, stays: bool) -> None:
    """The default weights: a cache holder wins until it carries a few more requests than
    the least-loaded engine; the unbounded baseline never lets go (the collapse)."""
    pool = PoolSnapshot(
        (
            snap("holder", in_flight=2 + excess),
            snap("idle-1", in_flight=2),
            snap("idle-2", in_flight=2),
        )
    )
    decision = schedule(_profile(profile), _long({"holder": 249}), pool)
    assert (decision.id == "holder") is stays

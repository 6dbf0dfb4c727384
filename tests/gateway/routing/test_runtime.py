from __future__ import annotations

import pytest

from gateway.config.defaults import default_policy
from gateway.config.models import PolicyError, RoutingPolicy
from gateway.plugins.producers.prefix_match import PrefixMatchProducer
from gateway.plugins.registry import builtin_registry
from gateway.plugins.scorers.prefix_cache import PrefixCacheScorer
from gateway.routing.runtime import RoutingRuntime, RuntimeHolder, RuntimeOptions, build_runtime
from tests.gateway.config.policies import default_document
from tests.gateway.plugins.pool import deps, prompt, request


def _build(
    options: RuntimeOptions | None = None, policy: RoutingPolicy | None = None
) -> RoutingRuntime:
    policy = policy or default_policy()
    return build_runtime(policy, builtin_registry(), deps(), options or RuntimeOptions())


def _policy(profile_plugins: list[dict[str, object]]) -> RoutingPolicy:
    document = default_document()
    profiles = document["schedulingProfiles"]
    assert isinstance(profiles, list)
    profiles[0]["plugins"] = profile_plugins
    return RoutingPolicy.model_validate(document)


def test_profiles_sort_plugins_by_role() -> None:
    profile = _build().profiles["long-context"]
    assert [type(p) for p in profile.producers] == [PrefixMatchProducer]
    assert len(profile.filters) == 3
    assert [(s.name, s.weight) for s in profile.scorers] == [
        ("prefix-cache-scorer", 3),
        ("queue-depth-scorer", 1),
        ("kv-cache-usage-scorer", 1),
        ("in-flight-scorer", 2),
        ("recent-requests-scorer", 1),
        ("lora-affinity-scorer", 1),
    ]


def test_kv_aware_off_drops_prefix_plugins_everywhere() -> None:
    runtime = _build(RuntimeOptions(kv_aware=False))
    for profile in runtime.profiles.values():
        assert profile.producers == ()
        assert not any(isinstance(s.scorer, PrefixCacheScorer) for s in profile.scorers)


def test_routing_profile_routes_every_class() -> None:
    runtime = _build(RuntimeOptions(routing_profile="round-robin"))
    assert {p.name for p in runtime.class_profiles.values()} == {"round-robin"}


def test_unknown_routing_profile() -> None:
    with pytest.raises(PolicyError, match="--routing-profile 'nope' is not a profile"):
        _build(RuntimeOptions(routing_profile="nope"))


def test_prompt_token_threshold_replaces_the_policy_one() -> None:
    runtime = _build(RuntimeOptions(prompt_token_threshold=100))
    assert runtime.classifier.classify(request(), prompt(101)) == "long_context"
    assert _build().classifier.classify(request(), prompt(101)) == "chat"


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        pytest.param([{"pluginRef": "ready"}], "needs exactly one picker, has 0", id="no-picker"),
        pytest.param(
            [{"pluginRef": "max-score-picker"}, {"pluginRef": "random-picker"}],
            "needs exactly one picker, has 2",
            id="two-pickers",
        ),
        pytest.param(
            [{"pluginRef": "ready", "weight": 2}, {"pluginRef": "random-picker"}],
            "'ready' is not a scorer but has a weight",
            id="weight-on-a-filter",
        ),
    ],
)
def test_bad_profiles(plugins: list[dict[str, object]], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _build(policy=_policy(plugins))


def test_holder_swaps_and_counts_generations() -> None:
    first, second = _build(), _build()
    holder = RuntimeHolder(first)
    holder.swap(second)
    assert (holder.current, holder.generation) == (second, 2)

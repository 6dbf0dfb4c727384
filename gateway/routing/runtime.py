"""The routing runtime: a policy built into a classifier and live profiles, swapped whole.

A request takes `RuntimeHolder.current` once, when it is classified, and keeps that runtime
to its end (retries included), so a policy reload never changes a request halfway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.config.models import PolicyError, RoutingPolicy, SchedulingProfile
from gateway.plugins.base import PluginDeps, RoutingPlugin
from gateway.plugins.registry import PluginConfigError, PluginRegistry
from gateway.routing.classify import ClassRules, RuleClassifier
from gateway.routing.interfaces import Classifier, Filter, Picker, Producer, Scorer
from gateway.routing.profile import Profile, WeightedScorer
from gateway.types import RequestClass


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """Process settings that shape every runtime built from a policy.

    `kv_aware`: False leaves prefix-aware plugins out of every profile
    (`ENABLE_KV_AWARE_ROUTING=false`); `prompt_token_threshold` replaces the policy's
    long-context threshold (`PROMPT_TOKEN_THRESHOLD`); `routing_profile` routes every class
    with that one profile (`kvgate serve --routing-profile NAME`).
    """

    kv_aware: bool = True
    prompt_token_threshold: int | None = None
    routing_profile: str | None = None


@dataclass(frozen=True, slots=True)
class RoutingRuntime:
    policy: RoutingPolicy
    classifier: Classifier
    profiles: Mapping[str, Profile]
    class_profiles: Mapping[RequestClass, Profile]
    response_headers: bool

    def profile_for(self, request_class: RequestClass) -> Profile:
        return self.class_profiles[request_class]


class RuntimeHolder:
    """The current runtime and its generation (1 for the first, +1 per accepted reload)."""

    def __init__(self, runtime: RoutingRuntime) -> None:
        self._current = runtime
        self.generation = 1

    @property
    def current(self) -> RoutingRuntime:
        return self._current

    def swap(self, runtime: RoutingRuntime) -> None:
        """Replace the runtime; requests already classified keep the one they took."""
        self._current = runtime
        self.generation += 1


def build_runtime(
    policy: RoutingPolicy,
    registry: PluginRegistry,
    deps: PluginDeps,
    options: RuntimeOptions = RuntimeOptions(),
) -> RoutingRuntime:
    """Instantiate every plugin of `policy` and assemble its profiles; raise `PolicyError`."""
    if options.routing_profile is not None and options.routing_profile not in (
        names := policy.profile_names()
    ):
        raise PolicyError(
            f"--routing-profile {options.routing_profile!r} is not a profile of the policy; "
            f"profiles: {', '.join(names)}"
        )
    plugins: dict[str, RoutingPlugin] = {}
    try:
        for spec in policy.plugins:
            plugins[spec.ref] = registry.build(spec.type, spec.parameters, deps, name=spec.ref)
    except PluginConfigError as exc:
        raise PolicyError(str(exc)) from None
    profiles = {
        spec.name: _profile(spec, plugins, options.kv_aware) for spec in policy.scheduling_profiles
    }
    by_class = {
        cls.name: profiles[options.routing_profile or cls.profile] for cls in policy.classes
    }
    return RoutingRuntime(
        policy=policy,
        classifier=RuleClassifier(_rules(policy, options)),
        profiles=MappingProxyType(profiles),
        class_profiles=MappingProxyType(by_class),
        response_headers=policy.response_headers.enabled,
    )


def _profile(
    spec: SchedulingProfile, plugins: Mapping[str, RoutingPlugin], kv_aware: bool
) -> Profile:
    producers: list[Producer] = []
    filters: list[Filter] = []
    scorers: list[WeightedScorer] = []
    pickers: list[Picker] = []
    for ref in spec.plugins:
        plugin = plugins[ref.plugin_ref]
        if plugin.prefix_aware and not kv_aware:
            continue
        if ref.weight is not None and not isinstance(plugin, Scorer):
            raise PolicyError(
                f"profile {spec.name!r}: {ref.plugin_ref!r} is not a scorer but has a weight"
            )
        # A plugin may play several roles (a producer that also scores); each is used.
        if isinstance(plugin, Producer):
            producers.append(plugin)
        if isinstance(plugin, Filter):
            filters.append(plugin)
        if isinstance(plugin, Scorer):
            weight = 1.0 if ref.weight is None else ref.weight
            scorers.append(WeightedScorer(ref.plugin_ref, plugin, weight))
        if isinstance(plugin, Picker):
            pickers.append(plugin)
    if len(pickers) != 1:
        raise PolicyError(f"profile {spec.name!r} needs exactly one picker, has {len(pickers)}")
    return Profile(spec.name, tuple(producers), tuple(filters), tuple(scorers), pickers[0])


def _rules(policy: RoutingPolicy, options: RuntimeOptions) -> ClassRules:
    rules = policy.classification
    long_context = low_priority = None
    if rules.long_context is not None:
        threshold = options.prompt_token_threshold
        if threshold is None:
            threshold = rules.long_context.prompt_tokens_above
        long_context = (rules.long_context.class_name, threshold)
    if rules.low_priority is not None:
        low_priority = (rules.low_priority.class_name, rules.low_priority.priority_above)
    return ClassRules(
        classes=frozenset(cls.name for cls in policy.classes),
        default=rules.default,
        header=rules.header.encode() if rules.header else None,
        long_context=long_context,
        low_priority=low_priority,
    )

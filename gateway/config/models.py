"""The routing policy file (`policies/routing.yaml`) as frozen, validated data.

The layout follows the Gateway API Inference Extension's `EndpointPickerConfig`: plugin
instances are listed once (`type`, optional `name`, `parameters`) apart from the scheduling
profiles that use them (`pluginRef`, and a `weight` for scorers). Request classes name the
profile that routes them; `classification` says how a request gets its class:

1. the class header (`x-kvgate-class`), when its value names a configured class;
2. `longContext`: more prompt tokens than `promptTokensAbove`;
3. `lowPriority`: a body `priority` above `priorityAbove` (vLLM: higher runs later);
4. otherwise `default`.

Keys are camelCase in YAML and snake_case in Python. Whether plugin types exist, whether
their parameters are valid and whether each profile has exactly one picker is checked when
the policy is built into a routing runtime (`gateway.routing.runtime`), which needs the
plugin registry; everything structural is checked here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Literal, Self

from pydantic import Field, JsonValue, model_validator

from gateway.config.frozen import KEBAB_PATTERN, NAME_PATTERN, FrozenModel

API_VERSION = "kvgate.dev/v1alpha1"
KIND = "RoutingPolicy"

_CLASS = r"^[a-z][a-z0-9_]{0,31}$"
_HEADER = r"^[a-z0-9][a-z0-9-]*$"


class PolicyError(ValueError):
    """A routing policy cannot be read, validated or built; the message says where."""


class PluginSpec(FrozenModel):
    """One plugin instance."""

    type: str = Field(pattern=KEBAB_PATTERN)
    """The registered plugin type, e.g. `prefix-cache-scorer`."""
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    """The instance name profiles refer to; defaults to `type`."""
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    """The plugin's own parameters (camelCase keys), validated by the plugin."""

    @property
    def ref(self) -> str:
        return self.name or self.type


class PluginRef(FrozenModel):
    """A plugin used by a profile."""

    plugin_ref: str
    """The `name` (or `type`) of an instance in `plugins`."""
    weight: float | None = Field(default=None, ge=0, le=1000)
    """Scorers only: the score's weight in the sum (default 1)."""


class SchedulingProfile(FrozenModel):
    """Producers, filters, weighted scorers and exactly one picker, in any order."""

    name: str = Field(pattern=NAME_PATTERN)
    plugins: tuple[PluginRef, ...] = Field(min_length=1)


class RequestClassSpec(FrozenModel):
    name: str = Field(pattern=_CLASS)
    """Also a metric label and the `x-kvgate-class` response header value."""
    profile: str
    """The scheduling profile that routes this class."""


class LongContextRule(FrozenModel):
    class_name: str = Field(default="long_context", alias="class", pattern=_CLASS)
    prompt_tokens_above: int = Field(default=2048, ge=0)
    """The `PROMPT_TOKEN_THRESHOLD` environment variable, when set, replaces this value."""


class LowPriorityRule(FrozenModel):
    class_name: str = Field(default="batch", alias="class", pattern=_CLASS)
    priority_above: int = 0
    """A request whose body `priority` is greater goes to `class`."""


class Classification(FrozenModel):
    header: str | None = Field(default="x-kvgate-class", pattern=_HEADER)
    """A request header whose value, if it names a class, sets the class outright."""
    long_context: LongContextRule | None = Field(
        default_factory=lambda: LongContextRule.model_validate({})
    )
    low_priority: LowPriorityRule | None = Field(
        default_factory=lambda: LowPriorityRule.model_validate({})
    )
    default: str = Field(default="chat", pattern=_CLASS)


class ResponseHeaders(FrozenModel):
    enabled: bool = True
    """Add `x-kvgate-engine`, `x-kvgate-class` and `x-kvgate-cached-tokens` to responses."""


class RoutingPolicy(FrozenModel):
    """The whole routing policy file."""

    api_version: Literal["kvgate.dev/v1alpha1"]
    kind: Literal["RoutingPolicy"]
    plugins: tuple[PluginSpec, ...] = Field(min_length=1)
    scheduling_profiles: tuple[SchedulingProfile, ...] = Field(min_length=1)
    classes: tuple[RequestClassSpec, ...] = Field(min_length=1)
    classification: Classification = Field(
        default_factory=lambda: Classification.model_validate({})
    )
    response_headers: ResponseHeaders = Field(
        default_factory=lambda: ResponseHeaders.model_validate({})
    )

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        _unique("plugin name", (spec.ref for spec in self.plugins))
        _unique("profile name", (profile.name for profile in self.scheduling_profiles))
        _unique("class name", (cls.name for cls in self.classes))
        plugins = {spec.ref for spec in self.plugins}
        for profile in self.scheduling_profiles:
            _unique(f"plugin in profile {profile.name!r}", (p.plugin_ref for p in profile.plugins))
            for ref in profile.plugins:
                if ref.plugin_ref not in plugins:
                    raise ValueError(
                        f"profile {profile.name!r} refers to unknown plugin {ref.plugin_ref!r}"
                    )
        profiles = {profile.name for profile in self.scheduling_profiles}
        for cls in self.classes:
            if cls.profile not in profiles:
                raise ValueError(f"class {cls.name!r} uses unknown profile {cls.profile!r}")
        classes = {cls.name for cls in self.classes}
        rules = self.classification
        named = [("default", rules.default)]
        if rules.long_context is not None:
            named.append(("longContext", rules.long_context.class_name))
        if rules.low_priority is not None:
            named.append(("lowPriority", rules.low_priority.class_name))
        for rule, name in named:
            if name not in classes:
                raise ValueError(f"classification.{rule} names unknown class {name!r}")
        return self

    def profile_names(self) -> list[str]:
        return [profile.name for profile in self.scheduling_profiles]


def _unique(what: str, names: Iterable[str]) -> None:
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ValueError(f"duplicate {what}: {', '.join(repeated)}")

"""The safety policy file (`policies/safety.yaml`) as frozen, validated data.

Like the routing policy, guard instances are listed once (`type`, optional `name`,
`parameters`), apart from the *profiles* that use them: a profile names its input guards
(run in order, before routing) and its output guards (run on every response). *Bindings*
choose a profile per tenant and model (globs; the first binding that matches wins), and
`defaultProfile` serves everything else. Keys are camelCase in YAML.

Whether guard types exist, whether their parameters are valid and whether each profile puts
input guards in `input` and output guards in `output` is checked when the policy is built
(`gateway.safety.runtime`), which needs the guard registry; everything structural is
checked here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Literal, Self

from pydantic import Field, JsonValue, model_validator

from gateway.config.frozen import KEBAB_PATTERN, NAME_PATTERN, FrozenModel

SAFETY_KIND = "SafetyPolicy"


class GuardSpec(FrozenModel):
    """One guard instance."""

    type: str = Field(pattern=KEBAB_PATTERN)
    """The registered guard type, e.g. `prompt-injection`."""
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    """The instance name profiles refer to (and verdicts carry); defaults to `type`."""
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    """The guard's own parameters (camelCase keys), validated by the guard."""

    @property
    def ref(self) -> str:
        return self.name or self.type


class SafetyProfile(FrozenModel):
    name: str = Field(pattern=NAME_PATTERN)
    input: tuple[str, ...] = ()
    """Input guards, in order; remote ones (classifiers) run after the local ones passed."""
    output: tuple[str, ...] = ()
    """Output guards, applied to every chunk of every response."""


class Binding(FrozenModel):
    """Which profile a request gets. A list left out matches everything."""

    profile: str
    tenants: tuple[str, ...] | None = None
    """Tenant names (from the tenants file) or globs; `anonymous` without API keys."""
    models: tuple[str, ...] | None = None
    """Requested model names or globs."""


class SafetyPolicy(FrozenModel):
    """The whole safety policy file."""

    api_version: Literal["kvgate.dev/v1alpha1"]
    kind: Literal["SafetyPolicy"]
    guards: tuple[GuardSpec, ...] = ()
    profiles: tuple[SafetyProfile, ...] = Field(min_length=1)
    bindings: tuple[Binding, ...] = ()
    default_profile: str

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        _unique("guard name", (spec.ref for spec in self.guards))
        _unique("profile name", (profile.name for profile in self.profiles))
        guards = {spec.ref for spec in self.guards}
        for profile in self.profiles:
            for stage in ("input", "output"):
                refs: tuple[str, ...] = getattr(profile, stage)
                _unique(f"{stage} guard in profile {profile.name!r}", refs)
                for ref in refs:
                    if ref not in guards:
                        raise ValueError(
                            f"profile {profile.name!r} refers to unknown guard {ref!r}"
                        )
        profiles = {profile.name for profile in self.profiles}
        for index, binding in enumerate(self.bindings):
            if binding.profile not in profiles:
                raise ValueError(f"bindings[{index}] uses unknown profile {binding.profile!r}")
        if self.default_profile not in profiles:
            raise ValueError(f"defaultProfile names unknown profile {self.default_profile!r}")
        return self


def _unique(what: str, names: Iterable[str]) -> None:
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ValueError(f"duplicate {what}: {', '.join(repeated)}")

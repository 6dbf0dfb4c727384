"""The safety runtime: a safety policy built into live guards, profiles and bindings.

The lifespan keeps the runtime in force in a `gateway.config.watcher.Current`, which a
reload swaps whole, so a guard never sees half of two policies. Profiles are resolved per (tenant,
model): the first binding whose tenant and model globs both match, else the default.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from gateway.config.models import PolicyError
from gateway.safety.base import GuardConfigError, GuardDeps, GuardPlugin
from gateway.safety.interfaces import OutputScanner, RemoteGuard, RequestGuard
from gateway.safety.models import SafetyPolicy, SafetyProfile
from gateway.safety.registry import GuardRegistry


@dataclass(frozen=True, slots=True)
class GuardProfile:
    """The guards one request runs: local input guards in order, then remote ones, and the
    output scanners."""

    name: str
    local: tuple[RequestGuard, ...] = ()
    remote: tuple[RemoteGuard, ...] = ()
    output: tuple[OutputScanner, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.local or self.remote or self.output)


@dataclass(frozen=True, slots=True)
class _Binding:
    tenants: re.Pattern[str] | None
    models: re.Pattern[str] | None
    profile: GuardProfile

    def matches(self, tenant: str, model: str) -> bool:
        return (self.tenants is None or self.tenants.match(tenant) is not None) and (
            self.models is None or self.models.match(model) is not None
        )


class SafetyRuntime:
    def __init__(
        self,
        policy: SafetyPolicy,
        profiles: Mapping[str, GuardProfile],
        bindings: Sequence[_Binding],
        default: GuardProfile,
    ) -> None:
        self.policy = policy
        self.profiles = MappingProxyType(dict(profiles))
        self._bindings = tuple(bindings)
        self._default = default

    def profile_for(self, tenant: str, model: str) -> GuardProfile:
        for binding in self._bindings:
            if binding.matches(tenant, model):
                return binding.profile
        return self._default


def build_safety_runtime(
    policy: SafetyPolicy, registry: GuardRegistry, deps: GuardDeps
) -> SafetyRuntime:
    """Instantiate every guard of `policy` and assemble its profiles; raise `PolicyError`."""
    guards: dict[str, GuardPlugin] = {}
    try:
        for spec in policy.guards:
            guards[spec.ref] = registry.build(spec.type, spec.parameters, deps, name=spec.ref)
    except GuardConfigError as exc:
        raise PolicyError(str(exc)) from None
    profiles = {spec.name: _profile(spec, guards) for spec in policy.profiles}
    bindings = [
        _Binding(_globs(b.tenants), _globs(b.models), profiles[b.profile]) for b in policy.bindings
    ]
    return SafetyRuntime(policy, profiles, bindings, profiles[policy.default_profile])


def _profile(spec: SafetyProfile, guards: Mapping[str, GuardPlugin]) -> GuardProfile:
    local: list[RequestGuard] = []
    remote: list[RemoteGuard] = []
    output: list[OutputScanner] = []
    for ref in spec.input:
        guard = guards[ref]
        if isinstance(guard, RequestGuard):
            local.append(guard)
        elif isinstance(guard, RemoteGuard):
            remote.append(guard)
        else:
            raise PolicyError(
                f"profile {spec.name!r}: {ref!r} is an output guard, not an input one"
            )
    for ref in spec.output:
        guard = guards[ref]
        if not isinstance(guard, OutputScanner):
            raise PolicyError(
                f"profile {spec.name!r}: {ref!r} is an input guard, not an output one"
            )
        output.append(guard)
    return GuardProfile(spec.name, tuple(local), tuple(remote), tuple(output))


def _globs(patterns: Sequence[str] | None) -> re.Pattern[str] | None:
    if patterns is None:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns) or "(?!)")

"""Safety for one gateway process: the policy and tenants files read, the guards built, the
two stages for the director, and a watcher per file for hot reload."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.config.models import PolicyError
from gateway.config.watcher import Current, FileWatcher, ReloadObserver
from gateway.proxy.interfaces import UpstreamTransport
from gateway.safety.base import GuardDeps
from gateway.safety.inspector import PolicyOutputGuard
from gateway.safety.interfaces import InputGuard, OutputGuard
from gateway.safety.loader import initial_safety, initial_tenants, parse_safety, parse_tenants
from gateway.safety.models import SafetyPolicy
from gateway.safety.registry import builtin_guards
from gateway.safety.runtime import SafetyRuntime, build_safety_runtime
from gateway.safety.screening import PolicyInputGuard
from gateway.safety.tenants import TenantDirectory, TenantPolicy
from gateway.settings import GatewaySettings

SafetyReloadObserver = Callable[[str, str, int], None]
Watcher = FileWatcher[SafetyPolicy, SafetyRuntime] | FileWatcher[TenantPolicy, TenantDirectory]
"""Told `(file, result, generation)` per change seen; `file` is `safety` or `tenants`."""


@dataclass(frozen=True, slots=True)
class Safety:
    input_guard: InputGuard
    output_guard: OutputGuard
    tenant_name: Callable[[str], str | None]
    """A key's SHA-256 (hex) → the tenant the tenants file names for it."""
    watchers: tuple[Watcher, ...]
    """To run as background tasks (one per file given)."""


def build_safety(
    settings: GatewaySettings,
    transport: UpstreamTransport | None,
    observer: SafetyReloadObserver,
) -> Safety:
    """Raises `PolicyError` for a file that does not read, validate or build."""
    directory, tenants_digest = initial_tenants(settings.tenants_file)
    tenants = Current(directory)
    build = _builder(GuardDeps(transport, lambda: tenants.current))
    policy, policy_digest = initial_safety(settings.safety_policy_file)
    runtime = Current(_built(build, policy, settings.safety_policy_file))
    watchers: list[Watcher] = []
    if settings.safety_policy_file is not None:
        watchers.append(
            FileWatcher(
                settings.safety_policy_file,
                runtime,
                parse_safety,
                build,
                loaded_digest=policy_digest,
                observer=_labelled(observer, "safety"),
                interval_s=settings.policy_poll_interval,
                what="safety policy",
            )
        )
    if settings.tenants_file is not None:
        watchers.append(
            FileWatcher(
                settings.tenants_file,
                tenants,
                parse_tenants,
                TenantDirectory,
                loaded_digest=tenants_digest,
                observer=_labelled(observer, "tenants"),
                interval_s=settings.policy_poll_interval,
                what="tenants",
            )
        )
    return Safety(
        input_guard=PolicyInputGuard(lambda: runtime.current),
        output_guard=PolicyOutputGuard(lambda: runtime.current),
        tenant_name=lambda digest_hex: tenants.current.tenant_for_key(digest_hex),
        watchers=tuple(watchers),
    )


def check_safety(settings: GatewaySettings) -> None:
    """Read and build both files once, as the gateway will; raise `PolicyError`."""
    build_safety(settings, None, lambda file, result, generation: None)


def _builder(deps: GuardDeps) -> Callable[[SafetyPolicy], SafetyRuntime]:
    registry = builtin_guards()
    return lambda policy: build_safety_runtime(policy, registry, deps)


def _built(
    build: Callable[[SafetyPolicy], SafetyRuntime], policy: SafetyPolicy, path: Path | None
) -> SafetyRuntime:
    try:
        return build(policy)
    except PolicyError as exc:
        raise PolicyError(f"{path or 'built-in safety policy'}: {exc}") from None


def _labelled(observer: SafetyReloadObserver, file: str) -> ReloadObserver:
    return lambda result, generation: observer(file, result, generation)

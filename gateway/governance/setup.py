"""Build the governance stage from process settings and the governance policy file."""

from __future__ import annotations

from gateway.governance.builder import BuildOptions
from gateway.governance.config import (
    GovernancePolicy,
    SinkSpec,
    read_governance,
    sink_from_flag,
)
from gateway.governance.monitor import OutputMonitor
from gateway.governance.sinks.registry import SinkDeps, SinkRegistry, builtin_sinks
from gateway.governance.spans import RequestSpans, tracer_provider
from gateway.governance.stage import Governance
from gateway.governance.versions import ModelVersions, RootLookup
from gateway.settings import GatewaySettings


def build_governance(
    settings: GatewaySettings, roots: RootLookup, registry: SinkRegistry | None = None
) -> Governance:
    """Raises `GovernancePolicyError` for a bad file, flag or sink."""
    policy = read_governance(settings.governance_file)
    registry = registry or builtin_sinks()
    deps = _deps(settings, policy)
    specs = sink_specs(settings, policy)
    sinks = [registry.build(spec, deps) for spec in specs]
    spans = None
    if settings.tracing or any(spec.type == "otel" for spec in specs):
        provider, owned = tracer_provider()
        spans = RequestSpans(provider, owns_provider=owned)
    audit = policy.audit
    return Governance(
        ModelVersions(roots, policy.model_versions),
        sinks=sinks,
        monitor=OutputMonitor(policy.monitor) if policy.monitor.enabled else None,
        spans=spans,
        options=BuildOptions(audit.record_prompt_text, audit.prompt_text_max_chars),
        response_headers=policy.response_headers.enabled,
    )


def check_governance(settings: GatewaySettings) -> None:
    """Validate the file, the flags and every sink as `build_governance` would, building
    nothing; raise `GovernancePolicyError`."""
    policy = read_governance(settings.governance_file)
    registry, deps = builtin_sinks(), _deps(settings, policy)
    for spec in sink_specs(settings, policy):
        registry.check(spec, deps)


def sink_specs(settings: GatewaySettings, policy: GovernancePolicy) -> tuple[SinkSpec, ...]:
    """`--audit-sink` flags when given (they replace the file's list), else the file's."""
    if settings.audit_sinks:
        return tuple(sink_from_flag(flag) for flag in settings.audit_sinks)
    return policy.audit.sinks


def _deps(settings: GatewaySettings, policy: GovernancePolicy) -> SinkDeps:
    audit = policy.audit
    url = settings.redis_url.get_secret_value() if settings.redis_url is not None else None
    return SinkDeps(url, audit.queue_capacity, audit.batch_size, audit.flush_timeout_seconds)

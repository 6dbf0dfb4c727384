"""The governance policy file (`policies/governance.yaml`) as frozen, validated data.

Keys are camelCase in YAML and snake_case in Python, as in the routing policy. Sinks are
listed like routing plugins: a registered `type` and its `parameters`, validated by the
sink when the governance stage is built. The defaults work with no file at all: records are
built but go to no sink, the response headers are on, the output monitor runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, JsonValue, ValidationError, model_validator

from gateway.config.frozen import KEBAB_PATTERN, FrozenModel


class GovernancePolicyError(ValueError):
    """A governance policy or sink cannot be read, validated or built; says where."""


class SinkSpec(FrozenModel):
    """One audit sink."""

    type: str = Field(pattern=KEBAB_PATTERN)
    """`jsonl`, `redis-stream` or `otel`."""
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    """The sink's own parameters (camelCase keys), validated by the sink."""


class AuditConfig(FrozenModel):
    sinks: tuple[SinkSpec, ...] = ()
    """Where records go; `kvgate serve --audit-sink` replaces this list."""
    record_prompt_text: bool = False
    """Put the canonical prompt text into each record (else only its SHA-256)."""
    prompt_text_max_chars: int = Field(default=32768, ge=1)
    queue_capacity: int = Field(default=10000, ge=1)
    """Records waiting per queued sink; more are dropped and counted, never waited for."""
    batch_size: int = Field(default=256, ge=1, le=10000)
    """Most records one write of a queued sink carries."""
    flush_timeout_seconds: float = Field(default=5.0, gt=0)
    """At shutdown, how long each queued sink may take to write what is still queued."""


class ResponseHeaders(FrozenModel):
    enabled: bool = True
    """Add `x-kvgate-model-version` and `x-kvgate-prompt-hash` to proxied responses."""


class ModelVersions(FrozenModel):
    revisions: dict[str, str] = Field(default_factory=dict)
    """Served model name → revision or weights hash, for engines whose labels carry none."""
    revision_labels: tuple[str, ...] = ("kvgate.dev/model-revision", "model-revision")
    """Engine labels (static `labels`, or discovery's) read for the revision, in order;
    an engine's label wins over `revisions`."""


class MonitorConfig(FrozenModel):
    enabled: bool = True
    baseline_requests: int = Field(default=1000, ge=1)
    """The first this many answers of a model version are its baseline window."""
    baseline_seconds: float | None = Field(default=None, gt=0)
    """Instead: every answer of its first this many seconds (at least `minRequests`)."""
    current_requests: int = Field(default=500, ge=1)
    """The current window: the latest this many answers."""
    min_requests: int = Field(default=100, ge=1)
    """Fewer answers in either window: no drift is reported."""
    max_series: int = Field(default=32, ge=1, le=1000)
    """Model versions watched at once; the least recently seen is dropped past this."""
    output_scan_chars: int = Field(default=256, ge=16, le=4096)
    """How much of each answer's start is searched for refusal phrases."""
    output_scan_bytes: int = Field(default=16384, ge=1024, le=1 << 20)
    """Bytes of each event stream kept to find those characters (SSE framing is ~20x)."""
    refusal_phrases: tuple[str, ...] = ()
    """Extra phrases (case-insensitive) that mark a refusal, added to the built-in EN/ZH ones."""
    builtin_refusal_phrases: bool = True
    queue_capacity: int = Field(default=4096, ge=1)
    """Answers waiting to be observed; more are dropped and counted."""

    @model_validator(mode="after")
    def _check_windows(self) -> MonitorConfig:
        if self.baseline_seconds is None and self.min_requests > self.baseline_requests:
            raise ValueError("minRequests cannot exceed baselineRequests")
        if self.min_requests > self.current_requests:
            raise ValueError("minRequests cannot exceed currentRequests")
        return self


class GovernancePolicy(FrozenModel):
    """The whole governance policy file."""

    api_version: Literal["kvgate.dev/v1alpha1"] = "kvgate.dev/v1alpha1"
    kind: Literal["GovernancePolicy"] = "GovernancePolicy"
    audit: AuditConfig = Field(default_factory=lambda: AuditConfig.model_validate({}))
    response_headers: ResponseHeaders = Field(
        default_factory=lambda: ResponseHeaders.model_validate({})
    )
    model_versions: ModelVersions = Field(default_factory=lambda: ModelVersions.model_validate({}))
    monitor: MonitorConfig = Field(default_factory=lambda: MonitorConfig.model_validate({}))


def default_governance() -> GovernancePolicy:
    return GovernancePolicy.model_validate({})


def parse_governance(data: bytes, source: str) -> GovernancePolicy:
    """Validate YAML bytes; raise `GovernancePolicyError` naming `source` and each bad field."""
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise GovernancePolicyError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise GovernancePolicyError(f"{source}: expected a mapping at the top level")
    try:
        return GovernancePolicy.model_validate(document)
    except ValidationError as exc:
        raise GovernancePolicyError(f"{source}: {describe(exc)}") from None


def read_governance(path: Path | None) -> GovernancePolicy:
    """The policy in `path`, or the built-in defaults without one."""
    if path is None:
        return default_governance()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GovernancePolicyError(
            f"cannot read governance file {path}: {exc.strerror or exc}"
        ) from None
    return parse_governance(data, str(path))


def describe(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '(top level)'}: {error['msg']}"
        for error in exc.errors()
    ]
    return f"{len(problems)} problem{'s' if len(problems) > 1 else ''}: " + "; ".join(problems)


def sink_from_flag(flag: str) -> SinkSpec:
    """`jsonl:stdout`, `jsonl:/path`, `redis-stream:KEY`, `otel` → a sink spec."""
    kind, _, target = flag.partition(":")
    if kind == "jsonl":
        return SinkSpec(type="jsonl", parameters={"path": target or "stdout"})
    if kind == "redis-stream":
        if not target:
            raise GovernancePolicyError("--audit-sink redis-stream:KEY needs a stream key")
        return SinkSpec(type="redis-stream", parameters={"key": target})
    if kind == "otel" and not target:
        return SinkSpec(type="otel")
    raise GovernancePolicyError(
        f"--audit-sink {flag!r}: expected jsonl:stdout, jsonl:PATH, redis-stream:KEY or otel"
    )

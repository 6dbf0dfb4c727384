"""The audit record of one finished request, and its JSON document.

One record per request, whatever happened to it: answered, streamed, rejected by the
gateway, blocked by a guard, failed by an engine or abandoned by the client. It never
holds the API key (only the tenant id derived from it) and holds prompt text only when the
governance policy says so (`audit.recordPromptText`); output text is never recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from gateway.safety.interfaces import GuardVerdict

SCHEMA = "kvgate.audit/v1"

SamplingValue = bool | int | float | str


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """Which weights answered: the engine's `/v1/models` `root` for the served model (vLLM:
    the path or repository it loaded) and an optional revision or weights hash (an engine
    label, or the governance policy's `modelVersions.revisions`). `label` joins them as
    `root@revision`, falling back to the model name for the root; it is the monitor's and
    the response header's value."""

    label: str
    root: str | None = None
    revision: str | None = None

    @classmethod
    def of(cls, model: str, root: str | None, revision: str | None) -> ModelVersion:
        base = root or model
        return cls(f"{base}@{revision}" if revision else base, root, revision)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Times are seconds: `time` is the wall clock at arrival (Unix), the `*_s` fields count
    from arrival (None when the request never got that far). `status` 499 means the client
    went away first. `prompt_hash` is the SHA-256 hex digest of the canonical prompt
    (`prompt_source` `template`: the rendered chat template the tokenize stage built) or of
    the raw prompt (`raw`: the prompt string, or the messages or token ids as sorted-key
    JSON) when it was not rendered."""

    request_id: str
    time: float
    tenant: str
    route: str
    status: int
    error_code: str | None = None
    model_requested: str | None = None
    model_served: str | None = None
    model_version: ModelVersion | None = None
    engine: str | None = None
    prompt_hash: str | None = None
    prompt_source: str | None = None
    prompt_tokens_gateway: int | None = None
    """The gateway's own count (tokenize stage); `prompt_tokens` is the engine's."""
    prompt_text: str | None = None
    stream: bool = False
    sampling: Mapping[str, SamplingValue] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    request_class: str | None = None
    profile: str | None = None
    predicted_cached_tokens: int = 0
    attempts: int = 0
    queue_s: float | None = None
    """Arrival → the request went to the engine that answered (parse, guards, tokenize,
    classify, prefix lookup, scheduling and earlier attempts)."""
    ttft_s: float | None = None
    """Arrival → the engine's first body chunk."""
    total_s: float = 0.0
    finish_reasons: tuple[str, ...] = ()
    guard_verdicts: Sequence[GuardVerdict] = ()
    """Every verdict of the input and output guards (they never hold text)."""
    trace_id: str | None = None

    def to_document(self) -> dict[str, object]:
        """The JSON document sinks write (`SCHEMA`); prompt text appears only when recorded."""
        version = self.model_version
        prompt: dict[str, object] = {
            "sha256": self.prompt_hash,
            "source": self.prompt_source,
            "tokens": self.prompt_tokens_gateway,
        }
        if self.prompt_text is not None:
            prompt["text"] = self.prompt_text
        return {
            "schema": SCHEMA,
            "request_id": self.request_id,
            "time": _iso(self.time),
            "tenant": self.tenant,
            "route": self.route,
            "status": self.status,
            "error_code": self.error_code,
            "model": {
                "requested": self.model_requested,
                "served": self.model_served,
                "version": version.label if version else None,
                "root": version.root if version else None,
                "revision": version.revision if version else None,
            },
            "engine": self.engine,
            "prompt": prompt,
            "stream": self.stream,
            "sampling": dict(self.sampling) if self.sampling else {},
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cached_tokens": self.cached_tokens,
            },
            "routing": {
                "class": self.request_class,
                "profile": self.profile,
                "predicted_cached_tokens": self.predicted_cached_tokens,
                "attempts": self.attempts,
            },
            "timings_ms": {
                "queue": _ms(self.queue_s),
                "ttft": _ms(self.ttft_s),
                "total": _ms(self.total_s),
            },
            "finish_reasons": list(self.finish_reasons),
            "guard_verdicts": list(self.guard_verdicts),
            "trace_id": self.trace_id,
        }

    def to_json(self) -> bytes:
        """One line of JSON, without the newline."""
        return orjson.dumps(self.to_document(), default=_opaque)


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _opaque(value: object) -> str:
    """What orjson cannot serialize itself (dataclasses, enums and datetimes it can)."""
    return type(value).__name__


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)

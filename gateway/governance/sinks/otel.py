"""Audit records as attributes of the request's current OpenTelemetry span.

Inline, on the request path, so the attributes land before the span ends: a few
microseconds, and nothing at all when the current span is not recording (tracing off and
no instrumentation around the gateway). Names follow OpenTelemetry's GenAI semantic
conventions where one exists (`gen_ai.*`), `kvgate.*` otherwise. Prompt text is never
put on a span, whatever the policy records.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from gateway.governance.interfaces import AuditSink
from gateway.governance.record import AuditRecord
from gateway.safety.interfaces import GuardVerdict


class OtelSink(AuditSink):
    def record(self, record: AuditRecord) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        span.set_attributes(span_attributes(record))
        if record.status >= 500:
            span.set_status(Status(StatusCode.ERROR, record.error_code))

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def span_attributes(record: AuditRecord) -> dict[str, AttributeValue]:
    """The record as flat span attributes; None values are left out."""
    version = record.model_version
    values: dict[str, AttributeValue | None] = {
        "kvgate.request_id": record.request_id,
        "kvgate.tenant": record.tenant,
        "kvgate.route": record.route,
        "http.response.status_code": record.status,
        "error.type": record.error_code,
        "gen_ai.request.model": record.model_requested,
        "gen_ai.response.model": record.model_served,
        "kvgate.model.version": version.label if version else None,
        "kvgate.model.root": version.root if version else None,
        "kvgate.model.revision": version.revision if version else None,
        "kvgate.engine": record.engine,
        "kvgate.prompt.sha256": record.prompt_hash,
        "kvgate.prompt.source": record.prompt_source,
        "kvgate.prompt.tokens": record.prompt_tokens_gateway,
        "kvgate.stream": record.stream,
        "gen_ai.usage.input_tokens": record.prompt_tokens,
        "gen_ai.usage.output_tokens": record.completion_tokens,
        "kvgate.usage.cached_tokens": record.cached_tokens,
        "kvgate.class": record.request_class,
        "kvgate.profile": record.profile,
        "kvgate.predicted_cached_tokens": record.predicted_cached_tokens,
        "kvgate.attempts": record.attempts,
        "kvgate.queue_ms": _ms(record.queue_s),
        "kvgate.ttft_ms": _ms(record.ttft_s),
        "kvgate.total_ms": _ms(record.total_s),
    }
    if record.finish_reasons:
        values["gen_ai.response.finish_reasons"] = list(record.finish_reasons)
    if record.guard_verdicts:
        values["kvgate.guard.verdicts"] = [_verdict(v) for v in record.guard_verdicts]
    for name, value in (record.sampling or {}).items():
        values[f"gen_ai.request.{name}"] = value
    return {name: value for name, value in values.items() if value is not None}


def _verdict(verdict: GuardVerdict) -> str:
    return f"{verdict.stage}:{verdict.guard}:{verdict.action}:{verdict.reason}"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)

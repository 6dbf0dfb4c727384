"""One OpenTelemetry server span per request, current while the director runs it.

Built only when tracing is on (`kvgate serve --tracing`, or an `otel` audit sink). The span
joins the client's trace when the request carries a W3C `traceparent`, starts at the
request's arrival, and ends when the director is done with it; the `otel` sink puts the
audit record's fields on it. Exceptions are not recorded on it (the record says what went
wrong, without the message text).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
from opentelemetry.trace import (
    Span,
    SpanKind,
    Tracer,
    TracerProvider,
    get_current_span,
    get_tracer_provider,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.types import ClientCall, RawHeaders


class _HeaderGetter(Getter[RawHeaders]):
    def get(self, carrier: RawHeaders, key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [value.decode("latin-1") for header, value in carrier if header == name]
        return values or None

    def keys(self, carrier: RawHeaders) -> list[str]:
        return [header.decode("latin-1") for header, _ in carrier]


class RequestSpans:
    """Spans from `provider`; `shutdown` shuts it down when `owns_provider`."""

    def __init__(self, provider: TracerProvider, *, owns_provider: bool = False) -> None:
        self._provider = provider
        self._owns_provider = owns_provider
        self._tracer: Tracer = provider.get_tracer("kvgate")
        self._propagator = TraceContextTextMapPropagator()
        self._getter = _HeaderGetter()

    def trace(self, call: ClientCall) -> AbstractContextManager[Span]:
        parent: Context | None = None
        if any(name == b"traceparent" for name, _ in call.headers):
            parent = self._propagator.extract(call.headers, getter=self._getter)
        waited_s = asyncio.get_running_loop().time() - call.received_at
        path = call.kind.path
        return self._tracer.start_as_current_span(
            f"POST {path}",
            context=parent,
            kind=SpanKind.SERVER,
            start_time=time.time_ns() - int(waited_s * 1e9),
            attributes={"http.request.method": "POST", "url.path": path, "http.route": path},
            record_exception=False,
            set_status_on_exception=False,
        )

    def shutdown(self) -> None:
        if self._owns_provider and isinstance(self._provider, SDKTracerProvider):
            self._provider.shutdown()


def tracer_provider() -> tuple[TracerProvider, bool]:
    """The process's SDK provider when one was installed (e.g. by `opentelemetry-instrument`,
    with its exporters), else a new one without exporters; and whether it is ours to shut
    down. The global provider is never replaced."""
    installed = get_tracer_provider()
    if isinstance(installed, SDKTracerProvider):
        return installed, False
    resource = Resource.create({"service.name": "kvgate"})
    return SDKTracerProvider(resource=resource, shutdown_on_exit=False), True


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), when there is a valid one."""
    context = get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None

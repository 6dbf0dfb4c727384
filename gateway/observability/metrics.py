"""Every Prometheus metric the gateway exports, behind `record_*` helpers.

One `GatewayMetrics` per process, built by the lifespan on its own registry (never the
global default one, so tests can build many). Label values are bounded: routes and statuses
are fixed sets, engines come from discovery, and a model label is only ever a model some
engine advertised (anything else is reported as `unknown`).
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

UNKNOWN_MODEL = "unknown"
NO_ENGINE = "none"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_TTFT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_CHUNK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(
            "kvgate_requests",
            "Requests answered, by route, model, HTTP status and engine.",
            ["route", "model", "status", "engine"],
            registry=r,
        )
        self._latency = Histogram(
            "kvgate_request_duration_seconds",
            "Time from request arrival to the last byte sent to the client.",
            ["route", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._ttft = Histogram(
            "kvgate_time_to_first_chunk_seconds",
            "Time from request arrival to the first response body chunk from the engine.",
            ["route", "model"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self._chunk_gap = Histogram(
            "kvgate_inter_chunk_seconds",
            "Time between consecutive streamed chunks relayed to the client.",
            ["model"],
            buckets=_CHUNK_BUCKETS,
            registry=r,
        )
        self._in_flight = Gauge(
            "kvgate_engine_in_flight_requests",
            "Requests the gateway has sent to an engine and not finished.",
            ["engine"],
            registry=r,
        )
        self._ready = Gauge(
            "kvgate_engine_ready", "1 when an engine is ready for traffic.", ["engine"], registry=r
        )
        self._upstream_errors = Counter(
            "kvgate_upstream_errors",
            "Failures talking to an engine, by kind (unreachable, disconnected, timeout, status).",
            ["engine", "kind"],
            registry=r,
        )
        self._retries = Counter(
            "kvgate_retries",
            "Requests retried on another engine, by reason.",
            ["reason"],
            registry=r,
        )
        self._tokens = Counter(
            "kvgate_tokens",
            "Tokens reported in engine usage blocks, by model and kind (prompt, completion).",
            ["model", "kind"],
            registry=r,
        )

    def record_request(
        self, *, route: str, model: str, status: int, engine: str, duration_s: float
    ) -> None:
        self._requests.labels(route, model, str(status), engine).inc()
        self._latency.labels(route, model).observe(duration_s)

    def record_first_chunk(self, *, route: str, model: str, seconds: float) -> None:
        self._ttft.labels(route, model).observe(seconds)

    def chunk_gap_observer(self, model: str) -> Histogram:
        """The histogram child to `observe` per-chunk gaps on (one label lookup per stream)."""
        return self._chunk_gap.labels(model)

    def record_in_flight(self, engine: str, count: int) -> None:
        self._in_flight.labels(engine).set(count)

    def record_engine_ready(self, engine: str, *, ready: bool) -> None:
        self._ready.labels(engine).set(1 if ready else 0)

    def record_upstream_error(self, engine: str, kind: str) -> None:
        self._upstream_errors.labels(engine, kind).inc()

    def record_retry(self, reason: str) -> None:
        self._retries.labels(reason).inc()

    def record_usage(self, model: str, *, prompt_tokens: int, completion_tokens: int) -> None:
        self._tokens.labels(model, "prompt").inc(prompt_tokens)
        self._tokens.labels(model, "completion").inc(completion_tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)

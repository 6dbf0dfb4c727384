"""Every Prometheus metric the gateway exports, behind `record_*` helpers.

One `GatewayMetrics` per process, built by the lifespan on its own registry (never the
global default one, so tests can build many). Label values are bounded: routes and statuses
are fixed sets, engines come from discovery, and a model label is only ever a model some
engine advertised (anything else is reported as `unknown`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.discovery.kubernetes_health import DiscoveryHealth
from gateway.governance.stats import GovernanceStats, MonitorStats, WindowStats
from gateway.prefix.interfaces import IndexStats
from gateway.prefix.kv_tracker import KVEventStats
from gateway.safety.interfaces import GuardVerdict

UNKNOWN_MODEL = "unknown"
NO_ENGINE = "none"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_TTFT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_CHUNK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_SCHEDULING_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1)


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

        self._decisions = Counter(
            "kvgate_routing_decisions",
            "Engines chosen by the scheduler, by request class, profile and engine "
            "(one per attempt: a retry counts again).",
            ["class", "profile", "engine"],
            registry=r,
        )
        self._scheduling = Histogram(
            "kvgate_scheduling_duration_seconds",
            "Time to choose an engine for a request: prefix lookup, filters, scorers, picker.",
            ["profile"],
            buckets=_SCHEDULING_BUCKETS,
            registry=r,
        )
        self._cached_tokens = Counter(
            "kvgate_prefix_cached_tokens",
            "Prompt tokens served from the engine's prefix cache, as the gateway predicted "
            "and as the engine reported in its usage block (requests with a usage block only).",
            ["engine", "source"],
            registry=r,
        )
        self._engine_prefix = Counter(
            "kvgate_engine_prefix_cache_tokens",
            "The engines' own prefix-cache counters (vLLM's prefix_cache_queries and "
            "prefix_cache_hits, in tokens), as scraped.",
            ["engine", "kind"],
            registry=r,
        )
        self._scrape_failures = Counter(
            "kvgate_engine_scrape_failures",
            "Failed scrapes of an engine's /metrics, by reason.",
            ["engine", "reason"],
            registry=r,
        )
        self._prefix_records = Counter(
            "kvgate_prefix_records",
            "Prompts recorded in the prefix index by the gateway (approximate mode).",
            ["engine"],
            registry=r,
        )
        self._tokenize_fallbacks = Counter(
            "kvgate_tokenize_fallbacks",
            "Prompts measured with the byte estimate because tokenizing failed, by reason.",
            ["reason"],
            registry=r,
        )
        self._policy_reloads = Counter(
            "kvgate_policy_reloads",
            "Routing policy file changes seen, by result (applied, rejected).",
            ["result"],
            registry=r,
        )
        self._policy_generation = Gauge(
            "kvgate_policy_generation",
            "Generation of the routing policy in use: 1 at start, +1 per applied reload.",
            registry=r,
        )
        self._policy_generation.set(1)
        self._guard_verdicts = Counter(
            "kvgate_guard_verdicts",
            "Safety guard verdicts, by stage, guard, action (block, redact, flag, allow) and "
            "reason code.",
            ["stage", "guard", "action", "reason"],
            registry=r,
        )
        self._safety_reloads = Counter(
            "kvgate_safety_reloads",
            "Safety policy and tenants file changes seen, by file and result.",
            ["file", "result"],
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

    def record_decision(
        self, *, request_class: str, profile: str, engine: str, seconds: float
    ) -> None:
        self._decisions.labels(request_class, profile, engine).inc()
        self._scheduling.labels(profile).observe(seconds)

    def record_cached_tokens(self, engine: str, *, predicted: int, reported: int) -> None:
        self._cached_tokens.labels(engine, "predicted").inc(predicted)
        self._cached_tokens.labels(engine, "reported").inc(reported)

    def record_engine_prefix_cache(self, engine: str, *, queries: float, hits: float) -> None:
        """Token deltas since the previous scrape of `engine`."""
        self._engine_prefix.labels(engine, "queries").inc(queries)
        self._engine_prefix.labels(engine, "hits").inc(hits)

    def record_scrape_failure(self, engine: str, reason: str) -> None:
        self._scrape_failures.labels(engine, reason).inc()

    def record_prefix_record(self, engine: str) -> None:
        self._prefix_records.labels(engine).inc()

    def record_tokenize_fallback(self, reason: str) -> None:
        self._tokenize_fallbacks.labels(reason).inc()

    def record_policy_reload(self, result: str, generation: int) -> None:
        self._policy_reloads.labels(result).inc()
        self._policy_generation.set(generation)

    def record_guard_verdicts(self, verdicts: Iterable[GuardVerdict]) -> None:
        """Guard names come from the safety policy and reasons from its rules: bounded."""
        for verdict in verdicts:
            self._guard_verdicts.labels(
                verdict.stage, verdict.guard, verdict.action, verdict.reason
            ).inc()

    def record_safety_reload(self, file: str, result: str, generation: int) -> None:
        self._safety_reloads.labels(file, result).inc()

    def watch_prefix_index(self, stats: Callable[[], IndexStats]) -> None:
        """Export the prefix index's size and Redis health, read at each scrape."""
        self.registry.register(_PrefixIndexCollector(stats))

    def watch_kv_events(self, stats: Callable[[], Mapping[str, KVEventStats]]) -> None:
        """Export each engine's KV-event stream counters, read at each scrape."""
        self.registry.register(_KVEventCollector(stats))

    def watch_discovery(self, health: Callable[[], DiscoveryHealth]) -> None:
        """Export Kubernetes discovery's per-pool sync state and counters, read at each
        scrape."""
        self.registry.register(_DiscoveryCollector(health))

    def watch_governance(self, stats: Callable[[], GovernanceStats]) -> None:
        """Export the audit sinks' counters and the output monitor's windows and drift, read
        (and the drift computed) at each scrape."""
        self.registry.register(_GovernanceCollector(stats))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _PrefixIndexCollector(Collector):
    def __init__(self, stats: Callable[[], IndexStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        yield _gauge(
            "kvgate_prefix_index_entries", "Blocks held in the in-process index.", stats.entries
        )
        yield _gauge(
            "kvgate_prefix_index_endpoints", "Engines with blocks in the index.", stats.endpoints
        )
        yield _gauge(
            "kvgate_prefix_index_redis_available",
            "1 while the shared Redis index answers (0 also when none is configured).",
            1 if stats.remote_available else 0,
        )
        counters = (
            ("evictions", "Blocks dropped to stay within capacity.", stats.evictions),
            ("expirations", "Blocks dropped after their TTL.", stats.expirations),
            ("redis_errors", "Failed or timed-out Redis calls.", stats.remote_errors),
            (
                "redis_fallbacks",
                "Prefix lookups answered from local state because Redis was unavailable.",
                stats.fallback_matches,
            ),
            (
                "redis_skipped_writes",
                "Index writes not sent to Redis while it was unavailable.",
                stats.skipped_remote_writes,
            ),
        )
        for name, doc, value in counters:
            family = CounterMetricFamily(f"kvgate_prefix_index_{name}", doc)
            family.add_metric([], value)
            yield family


class _KVEventCollector(Collector):
    def __init__(self, stats: Callable[[], Mapping[str, KVEventStats]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        batches = CounterMetricFamily(
            "kvgate_kv_event_batches", "KV-event batches applied, per engine.", labels=["engine"]
        )
        blocks = CounterMetricFamily(
            "kvgate_kv_event_blocks",
            "Blocks stored into and removed from the index by engines' KV events.",
            labels=["engine", "kind"],
        )
        gaps = CounterMetricFamily(
            "kvgate_kv_event_gaps",
            "Sequence gaps (lost messages or a restarted engine); each clears the engine.",
            labels=["engine"],
        )
        skipped = CounterMetricFamily(
            "kvgate_kv_event_skipped_blocks",
            "Stored blocks the gateway could not re-hash, by reason.",
            labels=["engine", "reason"],
        )
        for engine, s in self._stats().items():
            batches.add_metric([engine], s.batches)
            blocks.add_metric([engine, "stored"], s.stored_blocks)
            blocks.add_metric([engine, "removed"], s.removed_blocks)
            gaps.add_metric([engine], s.gaps)
            skipped.add_metric([engine, "unknown_parent"], s.unknown_parent_blocks)
            skipped.add_metric([engine, "unknown_lora"], s.unknown_lora_blocks)
            skipped.add_metric([engine, "unhashable"], s.unhashable_blocks)
            skipped.add_metric([engine, "block_size"], s.block_size_mismatches)
        yield from (batches, blocks, gaps, skipped)


class _DiscoveryCollector(Collector):
    """Label values are bounded: pools come from configuration, event types and error
    kinds from fixed sets (see `kubernetes_health`), engine states from `EndpointState`."""

    def __init__(self, health: Callable[[], DiscoveryHealth]) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        health = self._health()
        synced = GaugeMetricFamily(
            "kvgate_discovery_synced",
            "1 once a pool's EndpointSlices have been listed (its engine set is known).",
            labels=["pool"],
        )
        watching = GaugeMetricFamily(
            "kvgate_discovery_watching",
            "1 while a pool's watch stream is open and delivering.",
            labels=["pool"],
        )
        age = GaugeMetricFamily(
            "kvgate_discovery_last_sync_age_seconds",
            "Seconds since a pool last heard from the Kubernetes API server.",
            labels=["pool"],
        )
        relists = CounterMetricFamily(
            "kvgate_discovery_relists",
            "Full relists forced by 410 Gone (history compacted or lost).",
            labels=["pool"],
        )
        events = CounterMetricFamily(
            "kvgate_discovery_watch_events",
            "Watch events received, by type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR).",
            labels=["pool", "type"],
        )
        errors = CounterMetricFamily(
            "kvgate_discovery_errors",
            "Failed list or watch calls, by kind (expired, rejected, unavailable, protocol).",
            labels=["pool", "kind"],
        )
        for source in health.sources:
            synced.add_metric([source.pool], 1 if source.synced else 0)
            watching.add_metric([source.pool], 1 if source.watching else 0)
            if source.last_contact_age_s is not None:
                age.add_metric([source.pool], source.last_contact_age_s)
            relists.add_metric([source.pool], source.relists)
            for event_type, count in sorted(source.events.items()):
                events.add_metric([source.pool, event_type], count)
            for kind, count in sorted(source.errors.items()):
                errors.add_metric([source.pool, kind], count)
        engines = GaugeMetricFamily(
            "kvgate_discovery_engines",
            "Engines discovery reports, by state (serving, terminating, not_ready).",
            labels=["state"],
        )
        for state, count in health.endpoints.items():
            engines.add_metric([state], count)
        yield from (synced, watching, age, relists, events, errors, engines)


class _GovernanceCollector(Collector):
    """Label values are bounded: sinks and drop reasons are fixed sets; `model` is a bounded
    model label, `version` one of at most `monitor.maxSeries` watched model versions;
    `stat`, `reason` and `bucket` come from the monitor's fixed bins."""

    def __init__(self, stats: Callable[[], GovernanceStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        written = CounterMetricFamily(
            "kvgate_audit_records", "Audit records written, per sink.", labels=["sink"]
        )
        dropped = CounterMetricFamily(
            "kvgate_audit_dropped",
            "Audit records dropped, per sink and reason (queue_full, error, shutdown).",
            labels=["sink", "reason"],
        )
        queued = GaugeMetricFamily(
            "kvgate_audit_queue_depth", "Audit records waiting, per sink.", labels=["sink"]
        )
        for sink, s in stats.sinks:
            written.add_metric([sink], s.written)
            queued.add_metric([sink], s.queued)
            for reason in ("queue_full", "error", "shutdown"):
                dropped.add_metric([sink, reason], s.dropped[reason])
        yield from (written, dropped, queued)
        if stats.monitor is not None:
            yield from _monitor_metrics(stats.monitor)


def _monitor_metrics(monitor: MonitorStats) -> Iterator[Metric]:
    series_labels = ["model", "version"]
    window_labels = [*series_labels, "window"]
    psi = GaugeMetricFamily(
        "kvgate_output_psi",
        "Population stability index of a model version's current window of answers against "
        "its baseline, per distribution (finish_reason, output_tokens, refusal, guard_trigger).",
        labels=[*series_labels, "stat"],
    )
    baseline = GaugeMetricFamily(
        "kvgate_output_baseline_complete",
        "1 once a model version's baseline window is complete (then frozen).",
        labels=series_labels,
    )
    requests = GaugeMetricFamily(
        "kvgate_output_window_requests",
        "Answers in a model version's baseline and current windows.",
        labels=window_labels,
    )
    refusal = GaugeMetricFamily(
        "kvgate_refusal_rate",
        "Share of answers that open with a refusal phrase, per window.",
        labels=window_labels,
    )
    guard = GaugeMetricFamily(
        "kvgate_guard_trigger_rate",
        "Share of answered requests a guard flagged or redacted, per window.",
        labels=window_labels,
    )
    finish = GaugeMetricFamily(
        "kvgate_output_finish_reason_ratio",
        "Share of answers per finish reason, per window.",
        labels=[*window_labels, "reason"],
    )
    length = GaugeMetricFamily(
        "kvgate_output_tokens_ratio",
        "Share of answers per output-length bucket (tokens, upper bound), per window.",
        labels=[*window_labels, "bucket"],
    )
    for series in monitor.series:
        key = [series.model, series.version]
        baseline.add_metric(key, 1 if series.baseline_complete else 0)
        for stat, value in series.psi.items():
            psi.add_metric([*key, stat], value)
        for name, window in (("baseline", series.baseline), ("current", series.current)):
            _window_metrics([*key, name], window, requests, refusal, guard, finish, length)
    counters = (
        ("observed", "Answers the output monitor observed.", monitor.observed),
        ("dropped", "Answers not observed because the monitor's queue was full.", monitor.dropped),
        (
            "evicted_series",
            "Model versions dropped from the monitor to stay within maxSeries.",
            monitor.evicted_series,
        ),
    )
    yield from (psi, baseline, requests, refusal, guard, finish, length)
    for name, doc, value in counters:
        family = CounterMetricFamily(f"kvgate_output_monitor_{name}", doc)
        family.add_metric([], value)
        yield family


def _window_metrics(
    labels: list[str],
    window: WindowStats,
    requests: GaugeMetricFamily,
    refusal: GaugeMetricFamily,
    guard: GaugeMetricFamily,
    finish: GaugeMetricFamily,
    length: GaugeMetricFamily,
) -> None:
    requests.add_metric(labels, window.requests)
    if window.refusal_rate is not None:
        refusal.add_metric(labels, window.refusal_rate)
    if window.guard_trigger_rate is not None:
        guard.add_metric(labels, window.guard_trigger_rate)
    for reason, share in window.finish_reasons.items():
        finish.add_metric([*labels, reason], share)
    for bucket, share in window.output_tokens.items():
        length.add_metric([*labels, bucket], share)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)

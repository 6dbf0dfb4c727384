"""vLLM's Prometheus metrics, fed by engine steps and rendered on a per-app registry.

`SimMetrics` is a `StepObserver` (plain integer and float adds on the engine loop, no locks)
and a prometheus_client collector that builds metric families at scrape time; gauges are
read from `engine.snapshot()` then. Names, labels and bucket edges are vLLM's
(`vllm/v1/metrics/loggers.py`); counters are declared without `_total` and prometheus_client
appends it once, as vLLM's output shows (`vllm:prompt_tokens_total`). Latencies are in engine
seconds (wall seconds × `--time-scale`). Two counters of our own, `kvgate_sim_steps_total`
and `kvgate_sim_busy_seconds_total`, measure the simulator itself.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from loadtests.sim.engine.types import EngineSnapshot, StepStats

TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
ITL_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
REQUEST_LATENCY_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
    50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
FINISH_REASONS = ("stop", "length", "abort")
ENGINE_INDEX = "0"
_MAX_LORA_LABEL_SETS = 64

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    """Bucket counts (per bucket, not cumulative) plus sum and count; observe is O(log n)."""

    __slots__ = ("count", "counts", "edges", "total")

    def __init__(self, edges: Sequence[float]) -> None:
        self.edges = tuple(edges)
        self.counts = [0] * (len(self.edges) + 1)  # the last is the +Inf overflow
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.edges, value)] += 1
        self.total += value
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        cumulative, out = 0, []
        for edge, count in zip((*self.edges, float("inf")), self.counts, strict=True):
            cumulative += count
            out.append((_le(edge), float(cumulative)))
        return out


def _le(edge: float) -> str:
    return "+Inf" if edge == float("inf") else repr(float(edge))


class LoraActivity:
    """Requests per LoRA adapter, waiting (no token yet) or running, for `vllm:lora_requests_info`.

    Updated by the HTTP layer on the event loop: `admitted` → `started` → `finished`.
    """

    def __init__(self) -> None:
        self._waiting: Counter[str] = Counter()
        self._running: Counter[str] = Counter()

    def admitted(self, name: str) -> None:
        self._waiting[name] += 1

    def started(self, name: str) -> None:
        self._waiting[name] -= 1
        self._running[name] += 1

    def finished(self, name: str, *, started: bool) -> None:
        counter = self._running if started else self._waiting
        counter[name] -= 1

    def names(self) -> tuple[str, str]:
        """(running adapters, waiting adapters), comma-separated as vLLM labels them."""
        running = ",".join(sorted(k for k, v in self._running.items() if v > 0))
        waiting = ",".join(sorted(k for k, v in self._waiting.items() if v > 0))
        return running, waiting


class SimMetrics:
    """Every `/metrics` series of one simulated engine.

    Construct, `attach()` the engine's snapshot function once the engine exists, pass the
    object to the engine as an observer, and `render()` on each scrape.
    """

    def __init__(
        self,
        *,
        model_name: str,
        cache_config: Mapping[str, str],
        max_loras: int | None = None,
        lora_activity: LoraActivity | None = None,
        extra_counters: Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        self._labels = [model_name, ENGINE_INDEX]
        self._cache_config = dict(cache_config)
        self._max_loras = max_loras
        self._lora_activity = lora_activity
        self._lora_label_sets: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._extra_counters = extra_counters
        self._snapshot: Callable[[], EngineSnapshot] | None = None
        self.steps = 0
        self.busy_seconds = 0.0
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.prefix_cache_queries = 0
        self.prefix_cache_hits = 0
        self.preemptions = 0
        self.request_success = dict.fromkeys(FINISH_REASONS, 0)
        self.ttft = Histogram(TTFT_BUCKETS)
        self.itl = Histogram(ITL_BUCKETS)
        self.e2e = Histogram(REQUEST_LATENCY_BUCKETS)
        self.queue_time = Histogram(REQUEST_LATENCY_BUCKETS)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def attach(self, snapshot: Callable[[], EngineSnapshot]) -> None:
        self._snapshot = snapshot

    def on_step(self, stats: StepStats) -> None:
        self.steps += 1
        self.busy_seconds += stats.duration
        self.prompt_tokens += stats.prompt_tokens
        self.generation_tokens += stats.generation_tokens
        self.prefix_cache_queries += stats.prefix_cache_queries
        self.prefix_cache_hits += stats.prefix_cache_hits
        self.preemptions += stats.preemptions
        for ttft in stats.ttfts:
            self.ttft.observe(ttft)
        for itl in stats.inter_token_latencies:
            self.itl.observe(itl)
        for done in stats.finished:
            self.request_success[done.finish_reason] += 1
            self.e2e.observe(done.finished_time - done.arrival_time)
            if done.first_scheduled_time is not None:
                self.queue_time.observe(done.first_scheduled_time - done.arrival_time)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # --- prometheus_client Collector protocol ---------------------------------------------

    def collect(self) -> Iterator[Metric]:
        yield from self._gauges()
        yield from self._counters()
        yield from self._histograms()
        yield from self._info()

    def _gauges(self) -> Iterable[Metric]:
        if self._snapshot is None:
            return
        snap = self._snapshot()
        for name, doc, value in (
            ("vllm:num_requests_running", "Number of requests in model execution batches.",
             snap.num_running),
            ("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
             snap.num_waiting),
            ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
             snap.kv_cache_usage),
        ):  # fmt: skip
            family = GaugeMetricFamily(name, doc, labels=["model_name", "engine"])
            family.add_metric(self._labels, float(value))
            yield family

    def _counters(self) -> Iterable[Metric]:
        for name, doc, value in (
            ("vllm:num_preemptions", "Cumulative number of preemption from the engine.",
             self.preemptions),
            ("vllm:prompt_tokens", "Number of prefill tokens processed.", self.prompt_tokens),
            ("vllm:generation_tokens", "Number of generation tokens processed.",
             self.generation_tokens),
            ("vllm:prefix_cache_queries",
             "Prefix cache queries, in terms of number of queried tokens.",
             self.prefix_cache_queries),
            ("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
             self.prefix_cache_hits),
            ("kvgate_sim_steps", "Engine steps executed by the simulator.", self.steps),
            ("kvgate_sim_busy_seconds", "Simulated GPU time of all steps, engine seconds.",
             self.busy_seconds),
        ):  # fmt: skip
            family = CounterMetricFamily(name, doc, labels=["model_name", "engine"])
            family.add_metric(self._labels, float(value))
            yield family
        success = CounterMetricFamily(
            "vllm:request_success",
            "Count of successfully processed requests.",
            labels=["model_name", "engine", "finished_reason"],
        )
        for reason, count in self.request_success.items():
            success.add_metric([*self._labels, reason], float(count))
        yield success
        if self._extra_counters is not None:
            for name, value in self._extra_counters().items():
                family = CounterMetricFamily(name, name, labels=["model_name", "engine"])
                family.add_metric(self._labels, float(value))
                yield family

    def _histograms(self) -> Iterable[Metric]:
        for name, doc, histogram in (
            ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
             self.ttft),
            ("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
             self.itl),
            ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
             self.e2e),
            ("vllm:request_queue_time_seconds",
             "Histogram of time spent in WAITING phase for request.", self.queue_time),
        ):  # fmt: skip
            family = HistogramMetricFamily(name, doc, labels=["model_name", "engine"])
            family.add_metric(self._labels, histogram.buckets(), histogram.total)
            yield family

    def _info(self) -> Iterable[Metric]:
        cache = GaugeMetricFamily(
            "vllm:cache_config_info",
            "Information of the LLMEngine CacheConfig",
            labels=[*self._cache_config, "engine"],
        )
        cache.add_metric([*self._cache_config.values(), ENGINE_INDEX], 1.0)
        yield cache
        if self._lora_activity is None or self._max_loras is None:
            return
        # vLLM sets a new label set to the current time each step and never removes old ones;
        # consumers read the newest. We refresh at scrape time and keep a bounded history.
        current = self._lora_activity.names()
        self._lora_label_sets[current] = time.time()
        self._lora_label_sets.move_to_end(current)
        while len(self._lora_label_sets) > _MAX_LORA_LABEL_SETS:
            self._lora_label_sets.popitem(last=False)
        lora = GaugeMetricFamily(
            "vllm:lora_requests_info",
            "Running stats on lora requests.",
            labels=["max_lora", "waiting_lora_adapters", "running_lora_adapters"],
        )
        for (running, waiting), stamp in self._lora_label_sets.items():
            lora.add_metric([str(self._max_loras), waiting, running], stamp)
        yield lora


def cache_config_labels(
    *, block_size: int, num_gpu_blocks: int, enable_prefix_caching: bool, overridden: bool
) -> dict[str, str]:
    """`vllm:cache_config_info` labels: vLLM's `CacheConfig.metrics_info()`, stringified."""
    return {
        "block_size": str(block_size),
        "cache_dtype": "auto",
        "calculate_kv_scales": "False",
        "cpu_offload_gb": "0",
        "enable_prefix_caching": str(enable_prefix_caching),
        "gpu_memory_utilization": "0.9",
        "is_attention_free": "False",
        "num_cpu_blocks": "None",
        "num_gpu_blocks": str(num_gpu_blocks),
        "num_gpu_blocks_override": str(num_gpu_blocks) if overridden else "None",
        "prefix_caching_hash_algo": "sha256",
        "sliding_window": "None",
        "swap_space": "4",
        "swap_space_bytes": str(4 * 2**30),
    }

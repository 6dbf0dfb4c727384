"""`/metrics` rendering from engine steps: vLLM's names, labels, suffixes and bucket edges."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from loadtests.sim.engine.types import EngineSnapshot, FinishedRequestStats, StepStats
from loadtests.sim.metrics import (
    ITL_BUCKETS,
    REQUEST_LATENCY_BUCKETS,
    TTFT_BUCKETS,
    LoraActivity,
    SimMetrics,
    cache_config_labels,
)

MODEL = "Qwen/Qwen2.5-7B-Instruct"
LABELS = {"model_name": MODEL, "engine": "0"}


def finished(reason: str, request_id: str = "r") -> FinishedRequestStats:
    return FinishedRequestStats(
        request_id=request_id,
        finish_reason=reason,  # type: ignore[arg-type]
        prompt_tokens=32,
        generation_tokens=4,
        num_cached_tokens=16,
        arrival_time=1.0,
        first_scheduled_time=1.25,
        first_token_time=1.3,
        finished_time=3.0,
    )


def make_metrics(lora: LoraActivity | None = None) -> SimMetrics:
    metrics = SimMetrics(
        model_name=MODEL,
        cache_config=cache_config_labels(
            block_size=16, num_gpu_blocks=2000, enable_prefix_caching=True, overridden=False
        ),
        max_loras=1 if lora else None,
        lora_activity=lora,
    )
    metrics.attach(lambda: EngineSnapshot(3, 2, 0.25, 2000, 16, 40))
    return metrics


def step(**fields: object) -> StepStats:
    base: dict[str, object] = {"now": 1.0, "duration": 0.007, "num_scheduled_tokens": 1}
    return StepStats(**{**base, **fields})  # type: ignore[arg-type]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, frozenset({**LABELS, **labels}.items()))]


def test_counters_gauges_and_histograms_follow_steps() -> None:
    metrics = make_metrics()
    metrics.on_step(
        step(
            ttfts=[0.05],
            prompt_tokens=32,
            generation_tokens=1,
            prefix_cache_queries=32,
            prefix_cache_hits=16,
        )
    )
    metrics.on_step(
        step(
            inter_token_latencies=[0.007, 0.009],
            generation_tokens=2,
            preemptions=1,
            finished=[finished("length"), finished("abort", "a")],
        )
    )
    text = metrics.render().decode()
    assert value(text, "vllm:num_requests_running") == 3
    assert value(text, "vllm:num_requests_waiting") == 2
    assert value(text, "vllm:kv_cache_usage_perc") == 0.25
    assert value(text, "vllm:prompt_tokens_total") == 32
    assert value(text, "vllm:generation_tokens_total") == 3
    assert value(text, "vllm:prefix_cache_queries_total") == 32
    assert value(text, "vllm:prefix_cache_hits_total") == 16
    assert value(text, "vllm:num_preemptions_total") == 1
    assert value(text, "vllm:request_success_total", finished_reason="length") == 1
    assert value(text, "vllm:request_success_total", finished_reason="abort") == 1
    assert value(text, "vllm:request_success_total", finished_reason="stop") == 0
    assert value(text, "vllm:time_to_first_token_seconds_count") == 1
    assert value(text, "vllm:time_to_first_token_seconds_bucket", le="0.06") == 1
    assert value(text, "vllm:time_to_first_token_seconds_bucket", le="0.04") == 0
    assert value(text, "vllm:inter_token_latency_seconds_bucket", le="0.01") == 2
    assert value(text, "vllm:e2e_request_latency_seconds_sum") == 4.0
    assert value(text, "vllm:request_queue_time_seconds_bucket", le="0.3") == 2
    assert value(text, "kvgate_sim_steps_total") == 2


def test_each_name_appears_once_with_total_suffix_once() -> None:
    text = make_metrics(LoraActivity()).render().decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    for counter in (
        "vllm:prefix_cache_queries_total",
        "vllm:prefix_cache_hits_total",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:num_preemptions_total",
        "vllm:request_success_total",
    ):
        assert types[counter] == "counter"
    for gauge in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:cache_config_info",
        "vllm:lora_requests_info",
    ):
        assert types[gauge] == "gauge"
    for histogram in (
        "vllm:time_to_first_token_seconds",
        "vllm:inter_token_latency_seconds",
        "vllm:e2e_request_latency_seconds",
        "vllm:request_queue_time_seconds",
    ):
        assert types[histogram] == "histogram"
    assert "_total_total" not in text
    assert "_created" not in text
    assert len(re.findall(r"^# TYPE ", text, re.MULTILINE)) == len(types)


def test_bucket_edges_are_vllms() -> None:
    text = make_metrics().render().decode()
    for name, edges in (
        ("vllm:time_to_first_token_seconds", TTFT_BUCKETS),
        ("vllm:inter_token_latency_seconds", ITL_BUCKETS),
        ("vllm:e2e_request_latency_seconds", REQUEST_LATENCY_BUCKETS),
        ("vllm:request_queue_time_seconds", REQUEST_LATENCY_BUCKETS),
    ):
        les = [
            dict(labels)["le"] for (sample, labels) in samples(text) if sample == f"{name}_bucket"
        ]
        assert [float(le) for le in les] == [*edges, float("inf")]
    assert TTFT_BUCKETS[:3] == (0.001, 0.005, 0.01)
    assert TTFT_BUCKETS[-1] == 2560.0
    assert ITL_BUCKETS[-1] == 80.0
    assert REQUEST_LATENCY_BUCKETS[-1] == 7680.0


def test_cache_config_info_is_an_info_gauge_without_model_label() -> None:
    text = make_metrics().render().decode()
    [(labels, val)] = [
        (dict(labels), val)
        for (name, labels), val in samples(text).items()
        if name == "vllm:cache_config_info"
    ]
    assert val == 1.0
    assert labels["block_size"] == "16"
    assert labels["num_gpu_blocks"] == "2000"
    assert labels["enable_prefix_caching"] == "True"
    assert labels["engine"] == "0"
    assert "model_name" not in labels


def test_lora_requests_info_tracks_adapters() -> None:
    activity = LoraActivity()
    metrics = make_metrics(activity)
    activity.admitted("sql")
    activity.admitted("chat")
    activity.started("sql")
    text = metrics.render().decode()
    [(labels, stamp)] = [
        (dict(labels), val)
        for (name, labels), val in samples(text).items()
        if name == "vllm:lora_requests_info"
    ]
    assert labels == {
        "max_lora": "1",
        "running_lora_adapters": "sql",
        "waiting_lora_adapters": "chat",
    }
    assert stamp > 1e9  # a Unix timestamp, as vLLM's set_to_current_time()
    activity.finished("sql", started=True)
    activity.finished("chat", started=False)
    assert activity.names() == ("", "")


def test_registry_is_per_instance() -> None:
    first, second = make_metrics(), make_metrics()
    first.on_step(step(prompt_tokens=5))
    assert value(second.render().decode(), "vllm:prompt_tokens_total") == 0

"""How a vLLM `/metrics` page becomes an `EngineLoad`.

Series read (names as vLLM's v1 engine exports them; the older name is the fallback):
- `vllm:num_requests_waiting`, `vllm:num_requests_running` — required;
- `vllm:kv_cache_usage_perc` (before vLLM 0.10: `vllm:gpu_cache_usage_perc`);
- `vllm:cache_config_info` labels `block_size`, `num_gpu_blocks`;
- `vllm:lora_requests_info` labels `running_lora_adapters`, `waiting_lora_adapters`,
  `max_lora` — vLLM adds a label set per change with the time as its value and never
  removes old ones, so the newest (largest value) is the current one;
- `vllm:prefix_cache_queries_total`, `vllm:prefix_cache_hits_total` (before: the
  `vllm:gpu_prefix_cache_*` names).

One engine may export several label sets per series (several `model_name`s, or one per
data-parallel rank in `engine`): request counts, prefix counters and GPU blocks are summed,
KV usage is the largest (a fraction; the fullest rank is what rejects work).
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.discovery.engine_load import EngineLoad, LoraState
from gateway.discovery.prometheus_text import MetricsFormatError, Sample, SeriesReader

WAITING = "vllm:num_requests_waiting"
RUNNING = "vllm:num_requests_running"
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
CACHE_CONFIG = "vllm:cache_config_info"
LORA_INFO = "vllm:lora_requests_info"
PREFIX_QUERIES = ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total")
PREFIX_HITS = ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total")

_READER = SeriesReader(
    (WAITING, RUNNING, *KV_USAGE, CACHE_CONFIG, LORA_INFO, *PREFIX_QUERIES, *PREFIX_HITS)
)


class NotAnEngineError(MetricsFormatError):
    """The page lacks vLLM's request gauges: not a vLLM engine, or an error page."""


def parse_engine_load(page: bytes, *, scraped_at: float) -> EngineLoad:
    """Read an engine's load from its `/metrics` body.

    Raises `NotAnEngineError` when the request gauges are missing and `MetricsFormatError`
    when a line of a series read is malformed; other series are never looked at.
    """
    series = _READER.read(page)
    waiting, running = series[WAITING], series[RUNNING]
    if not waiting or not running:
        raise NotAnEngineError(f"no {WAITING} or {RUNNING} series")
    kv = _first_present(series, KV_USAGE)
    block_size, num_gpu_blocks = _cache_config(series[CACHE_CONFIG])
    return EngineLoad(
        scraped_at=scraped_at,
        num_waiting=round(_sum(waiting)),
        num_running=round(_sum(running)),
        kv_usage=max(sample.value for sample in kv) if kv else None,
        block_size=block_size,
        num_gpu_blocks=num_gpu_blocks,
        lora=_lora_state(series[LORA_INFO]),
        prefix_cache_queries=_sum_or_none(_first_present(series, PREFIX_QUERIES)),
        prefix_cache_hits=_sum_or_none(_first_present(series, PREFIX_HITS)),
    )


def _first_present(series: Mapping[str, list[Sample]], names: tuple[str, ...]) -> list[Sample]:
    for name in names:
        samples = series[name]
        if samples:
            return samples
    return []


def _sum(samples: list[Sample]) -> float:
    return sum(sample.value for sample in samples)


def _sum_or_none(samples: list[Sample]) -> float | None:
    return _sum(samples) if samples else None


def _cache_config(samples: list[Sample]) -> tuple[int | None, int | None]:
    block_size: int | None = None
    num_gpu_blocks: int | None = None
    for sample in samples:
        labels = sample.labels()
        block_size = block_size or _int_label(labels.get("block_size"))
        blocks = _int_label(labels.get("num_gpu_blocks"))
        if blocks is not None:
            num_gpu_blocks = (num_gpu_blocks or 0) + blocks
    return block_size, num_gpu_blocks


def _lora_state(samples: list[Sample]) -> LoraState | None:
    if not samples:
        return None
    labels = max(samples, key=lambda sample: sample.value).labels()
    return LoraState(
        running=_names(labels.get("running_lora_adapters")),
        waiting=_names(labels.get("waiting_lora_adapters")),
        max_loras=_int_label(labels.get("max_lora")),
    )


def _names(value: str | None) -> frozenset[str]:
    return frozenset(name for name in (value or "").split(",") if name)


def _int_label(value: str | None) -> int | None:
    """An integer label value; vLLM renders unset ones as `None` and some as floats."""
    if value is None:
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):
        return None

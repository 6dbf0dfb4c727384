"""`/metrics` pages laid out as vLLM 0.10's API server serves them.

Every family a real page carries is here (process and GC collectors, the HTTP
instrumentator's histograms, vLLM's gauges, counters with `_created` lines interleaved, its
histograms with their real bucket edges, and the info gauges), so parser tests and the
speed measurement see a page of realistic size and shape (about 60 KB for one engine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

_LATENCY = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
            120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)  # fmt: skip
_TTFT = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
         10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
_TPOT = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
         10.0, 20.0, 40.0, 80.0)  # fmt: skip
_TOKENS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 32768)
_ITERATION = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
_HTTP_HIGHR = (
    *(round(0.01 * i, 2) for i in range(1, 51)),
    *(0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 7.5, 10.0, 30.0, 60.0),
)
_HANDLERS = ("/v1/chat/completions", "/v1/completions", "/metrics", "/health", "/v1/models",
             "/tokenize")  # fmt: skip


@dataclass
class EnginePage:
    """One engine's state; `render()` lays it out. Per-label-set values are per model name
    (or data-parallel rank); the gateway is expected to sum them."""

    model_names: Sequence[str] = ("Qwen/Qwen2.5-7B-Instruct",)
    waiting: Sequence[float] = (0.0,)
    running: Sequence[float] = (0.0,)
    kv_usage: Sequence[float] = (0.0,)
    prefix_queries: Sequence[float] = (0.0,)
    prefix_hits: Sequence[float] = (0.0,)
    block_size: int = 16
    num_gpu_blocks: int = 27000
    legacy_names: bool = False
    """vLLM before 0.10: `gpu_cache_usage_perc` and `gpu_prefix_cache_*`."""
    lora_label_sets: Sequence[tuple[str, str, float]] = ()
    """(running adapters, waiting adapters, timestamp) as vLLM accumulates them."""
    max_lora: int = 4
    extra_lines: Sequence[str] = field(default_factory=tuple)

    def render(self) -> bytes:
        lines: list[str] = [*_process_families(), *_http_families()]
        lines += self._gauges()
        lines += self._counters()
        lines += self._histograms()
        lines += self._info()
        lines += self.extra_lines
        return ("\n".join(lines) + "\n").encode()

    def _labels(self) -> list[str]:
        return [f'engine="0",model_name="{name}"' for name in self.model_names]

    def _gauges(self) -> list[str]:
        kv_name = "vllm:gpu_cache_usage_perc" if self.legacy_names else "vllm:kv_cache_usage_perc"
        out: list[str] = []
        for name, values in (
            ("vllm:num_requests_running", self.running),
            ("vllm:num_requests_waiting", self.waiting),
            (kv_name, self.kv_usage),
        ):
            out += [f"# HELP {name} A gauge.", f"# TYPE {name} gauge"]
            out += [f"{name}{{{lab}}} {v!r}" for lab, v in zip(self._labels(), values, strict=True)]
        return out

    def _counters(self) -> list[str]:
        prefix = "vllm:gpu_prefix_cache" if self.legacy_names else "vllm:prefix_cache"
        families = [
            ("vllm:num_preemptions", [3.0] * len(self.model_names)),
            ("vllm:prompt_tokens", [123456.0] * len(self.model_names)),
            ("vllm:generation_tokens", [98765.0] * len(self.model_names)),
            (f"{prefix}_queries", list(self.prefix_queries)),
            (f"{prefix}_hits", list(self.prefix_hits)),
        ]
        out: list[str] = []
        for name, values in families:
            out += [f"# HELP {name}_total A counter.", f"# TYPE {name}_total counter"]
            for lab, value in zip(self._labels(), values, strict=True):
                out += [f"{name}_total{{{lab}}} {value!r}", f"{name}_created{{{lab}}} 1.7e+09"]
        out += ["# HELP vllm:request_success_total Successes.",
                "# TYPE vllm:request_success_total counter"]  # fmt: skip
        for lab in self._labels():
            for reason in ("abort", "length", "stop", "error"):
                out.append(f'vllm:request_success_total{{{lab},finished_reason="{reason}"}} 7.0')
                out.append(
                    f'vllm:request_success_created{{{lab},finished_reason="{reason}"}} 1.7e9'
                )
        return out

    def _histograms(self) -> list[str]:
        out: list[str] = []
        for name, edges in (
            ("vllm:iteration_tokens_total", _ITERATION),
            ("vllm:time_to_first_token_seconds", _TTFT),
            ("vllm:time_per_output_token_seconds", _TPOT),
            ("vllm:inter_token_latency_seconds", _TPOT),
            ("vllm:e2e_request_latency_seconds", _LATENCY),
            ("vllm:request_queue_time_seconds", _LATENCY),
            ("vllm:request_inference_time_seconds", _LATENCY),
            ("vllm:request_prefill_time_seconds", _LATENCY),
            ("vllm:request_decode_time_seconds", _LATENCY),
            ("vllm:request_prompt_tokens", _TOKENS),
            ("vllm:request_generation_tokens", _TOKENS),
            ("vllm:request_max_num_generation_tokens", _TOKENS),
            ("vllm:request_params_max_tokens", _TOKENS),
            ("vllm:request_params_n", (1, 2, 5, 10, 20)),
        ):
            for lab in self._labels():
                out += _histogram(name, lab, edges)
        return out

    def _info(self) -> list[str]:
        out = [
            "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig",
            "# TYPE vllm:cache_config_info gauge",
            f'vllm:cache_config_info{{block_size="{self.block_size}",cache_dtype="auto",'
            'calculate_kv_scales="False",cpu_offload_gb="0",enable_prefix_caching="True",'
            'engine="0",gpu_memory_utilization="0.9",is_attention_free="False",'
            f'num_cpu_blocks="None",num_gpu_blocks="{self.num_gpu_blocks}",'
            'num_gpu_blocks_override="None",prefix_caching_hash_algo="sha256",'
            'sliding_window="None",swap_space="4",swap_space_bytes="4294967296"} 1.0',
        ]
        if self.lora_label_sets:
            out += ["# HELP vllm:lora_requests_info Running stats on lora requests.",
                    "# TYPE vllm:lora_requests_info gauge"]  # fmt: skip
            for running, waiting, stamp in self.lora_label_sets:
                out.append(
                    f'vllm:lora_requests_info{{max_lora="{self.max_lora}",'
                    f'running_lora_adapters="{running}",waiting_lora_adapters="{waiting}"}} '
                    f"{stamp!r}"
                )
        return out


def _histogram(name: str, labels: str, edges: Sequence[float]) -> list[str]:
    out = [f"# HELP {name} A histogram.", f"# TYPE {name} histogram"]
    cumulative = 0
    for i, edge in enumerate(edges):
        cumulative += i
        out.append(f'{name}_bucket{{{labels},le="{float(edge)!r}"}} {float(cumulative)!r}')
    out.append(f'{name}_bucket{{{labels},le="+Inf"}} {float(cumulative)!r}')
    out.append(f"{name}_count{{{labels}}} {float(cumulative)!r}")
    out.append(f"{name}_sum{{{labels}}} 1234.5")
    return out


def _process_families() -> list[str]:
    out = ["# HELP python_gc_objects_collected_total Objects collected during gc",
           "# TYPE python_gc_objects_collected_total counter"]  # fmt: skip
    out += [f'python_gc_objects_collected_total{{generation="{g}"}} 1234.0' for g in range(3)]
    out += [f'python_gc_collections_total{{generation="{g}"}} 99.0' for g in range(3)]
    out.append('python_info{implementation="CPython",major="3",minor="12",patchlevel="8",'
               'version="3.12.8"} 1.0')  # fmt: skip
    for name in ("process_virtual_memory_bytes", "process_resident_memory_bytes",
                 "process_start_time_seconds", "process_cpu_seconds_total",
                 "process_open_fds", "process_max_fds"):  # fmt: skip
        out += [f"# HELP {name} Process.", f"# TYPE {name} gauge", f"{name} 1.23456789e+09"]
    return out


def _http_families() -> list[str]:
    out = ["# HELP http_requests_total Total HTTP requests.",
           "# TYPE http_requests_total counter"]  # fmt: skip
    for handler in _HANDLERS:
        for status in ("2xx", "4xx", "5xx"):
            out.append(f'http_requests_total{{handler="{handler}",method="POST",status="{status}"}}'
                       " 12.0")  # fmt: skip
            out.append(f'http_requests_created{{handler="{handler}",method="POST",'
                       f'status="{status}"}} 1.7e9')  # fmt: skip
    for handler in _HANDLERS:
        for kind in ("request", "response"):
            out.append(f'http_{kind}_size_bytes_count{{handler="{handler}"}} 12.0')
            out.append(f'http_{kind}_size_bytes_sum{{handler="{handler}"}} 12345.0')
    out += _histogram("http_request_duration_highr_seconds", 'method="POST"', _HTTP_HIGHR)
    for handler in _HANDLERS:
        out += _histogram(
            "http_request_duration_seconds", f'handler="{handler}",method="POST"', (0.1, 0.5, 1)
        )
    return out

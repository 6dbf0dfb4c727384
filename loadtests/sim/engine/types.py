"""The engine's public data types: the contract between the engine and the HTTP server.

Times are *engine seconds*: simulated time, which runs `time_scale` times faster than the
wall clock (1.0 by default). Every timestamp handed in or out of the engine is in that unit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

FinishReason = Literal["stop", "length", "abort"]
SchedulingPolicy = Literal["fcfs", "priority"]


@dataclass(frozen=True)
class EngineRequest:
    """One request as the engine sees it, after the server tokenized and planned it.

    `output_token_ids` are the tokens the engine will emit, one per decode step, in order;
    the server decides them (seeded filler or echo, stop strings, eos) before submitting.
    When they run out the request finishes with `finish_reason`.
    """

    request_id: str
    prompt_token_ids: Sequence[int]
    output_token_ids: Sequence[int]
    finish_reason: Literal["stop", "length"] = "length"
    priority: int = 0  # lower value = scheduled earlier (vLLM's convention)
    cache_salt: str | None = None
    lora_name: str | None = None
    lora_id: int | None = None
    arrival_time: float = 0.0


@dataclass(frozen=True)
class RequestOutput:
    """What one engine step produced for one request."""

    request_id: str
    new_token_ids: Sequence[int]
    finished: bool = False
    finish_reason: FinishReason | None = None
    num_cached_tokens: int = 0  # prefix-cache hit (tokens) at the request's first admission


@dataclass(frozen=True)
class FinishedRequestStats:
    """Per-request timings for the histograms, in engine seconds."""

    request_id: str
    finish_reason: FinishReason
    prompt_tokens: int
    generation_tokens: int
    num_cached_tokens: int
    arrival_time: float
    first_scheduled_time: float | None
    first_token_time: float | None
    finished_time: float


@dataclass(frozen=True)
class StepStats:
    """Observations of one engine step (for the server's Prometheus metrics)."""

    now: float
    duration: float
    num_scheduled_tokens: int
    ttfts: Sequence[float] = ()  # one per request that got its first token in this step
    inter_token_latencies: Sequence[float] = ()  # one per decode token emitted in this step
    prompt_tokens: int = 0  # prompt tokens of requests admitted fresh in this step
    generation_tokens: int = 0
    prefix_cache_queries: int = 0  # tokens, fresh admissions only
    prefix_cache_hits: int = 0  # tokens, fresh admissions only
    preemptions: int = 0
    finished: Sequence[FinishedRequestStats] = ()


@dataclass(frozen=True)
class EngineSnapshot:
    """Gauges at one instant."""

    num_running: int
    num_waiting: int
    kv_cache_usage: float  # referenced blocks / (num_gpu_blocks - 1), in [0, 1]
    num_gpu_blocks: int
    block_size: int
    num_cached_blocks: int  # blocks holding a hash (in use or free-but-cached)


# --- KV events (vLLM's kv_events.py), emitted once per step that changed the cache ---


@dataclass(frozen=True)
class BlockStored:
    block_hashes: Sequence[int]
    parent_block_hash: int | None
    token_ids: Sequence[int]
    block_size: int
    lora_id: int | None = None
    medium: str | None = "GPU"
    lora_name: str | None = None


@dataclass(frozen=True)
class BlockRemoved:
    block_hashes: Sequence[int]
    medium: str | None = "GPU"


@dataclass(frozen=True)
class AllBlocksCleared:
    pass


KVEvent = BlockStored | BlockRemoved | AllBlocksCleared


@dataclass(frozen=True)
class KVEventBatch:
    timestamp: float  # engine seconds
    events: Sequence[KVEvent] = field(default_factory=list)
    data_parallel_rank: int | None = None


KVEventSink = Callable[[KVEventBatch], None]


class StepObserver(Protocol):
    """Receives every step's observations; called on the engine loop, must not block."""

    def on_step(self, stats: StepStats) -> None: ...

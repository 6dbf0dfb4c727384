"""The synchronous engine core: scheduler + KV cache + roofline clock, one step at a time.

A step scheduled at engine time `now` runs until `now + duration`; the tokens it samples
and the KV events it causes are stamped with that end time. Deterministic: the same calls
with the same times give the same outputs, stats and events.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.sim.engine.config import EngineConfig
from loadtests.sim.engine.hashing import BlockHasher
from loadtests.sim.engine.kv_cache import KVCacheManager
from loadtests.sim.engine.scheduler import RequestState, ScheduledBatch, Scheduler
from loadtests.sim.engine.types import (
    EngineRequest,
    EngineSnapshot,
    FinishedRequestStats,
    FinishReason,
    KVEventBatch,
    KVEventSink,
    RequestOutput,
    StepStats,
)


@dataclass(frozen=True)
class StepResult:
    """What one step produced; `duration` in engine seconds (0 when nothing ran)."""

    outputs: list[RequestOutput]
    stats: StepStats
    duration: float


class _StepOutcome:
    """Mutable accumulator for the per-request results of one step."""

    __slots__ = ("finished", "generation_tokens", "itls", "outputs", "ttfts")

    def __init__(self) -> None:
        self.outputs: list[RequestOutput] = []
        self.ttfts: list[float] = []
        self.itls: list[float] = []
        self.finished: list[RequestState] = []
        self.generation_tokens = 0


class EngineCore:
    """One simulated vLLM engine. Not thread-safe: call it from one thread (the event loop)."""

    def __init__(self, config: EngineConfig, kv_event_sink: KVEventSink | None = None) -> None:
        self.config = config
        self.profile = config.profile
        self.slowdown = 1.0  # multiplies every step's duration (fault injection), ≥ 1
        self._sink = kv_event_sink
        self._hasher = BlockHasher(config.model_name, config.block_size)
        self._hash_outputs = config.enable_prefix_caching
        self._block_size = config.block_size
        self.kv = KVCacheManager(
            config.num_gpu_blocks,
            config.block_size,
            enable_caching=config.enable_prefix_caching,
            enable_events=kv_event_sink is not None,
        )
        self.scheduler = Scheduler(
            self.kv,
            max_num_batched_tokens=config.max_num_batched_tokens,
            max_num_seqs=config.max_num_seqs,
            policy=config.scheduling_policy,
        )
        # A request can never outgrow the cache: vLLM refuses to start when max_model_len
        # does not fit, so cap it here the same way.
        self.max_total_tokens = min(
            config.max_model_len, (config.num_gpu_blocks - 1) * config.block_size
        )
        self._requests: dict[str, RequestState] = {}
        self._pending_finished: list[FinishedRequestStats] = []
        self._seq = 0
        self._clock = 0.0  # end of the last step, engine seconds

    # --- requests ---------------------------------------------------------------------

    def add_request(self, request: EngineRequest) -> None:
        """Queue a request. `ValueError` if its id is live, or its prompt is empty or too long."""
        num_prompt = len(request.prompt_token_ids)
        if request.request_id in self._requests:
            raise ValueError(f"request {request.request_id!r} is already in the engine")
        if not 0 < num_prompt <= self.max_total_tokens:
            raise ValueError(f"prompt of {num_prompt} tokens outside [1, {self.max_total_tokens}]")
        req = RequestState(request, self._seq, self.max_total_tokens)
        self._seq += 1
        if self.config.enable_prefix_caching:
            req.lora_key, req.salt_key = self._hasher.extra_keys(
                request.cache_salt, request.lora_name or _str_or_none(request.lora_id)
            )
            self._extend_hashes(req)
        self._requests[request.request_id] = req
        self.scheduler.add(req)

    def abort_request(self, request_id: str, now: float | None = None) -> RequestOutput | None:
        """Drop a request wherever it is; its blocks go back to the free queue, still cached.

        Returns its final output (finish_reason "abort"), or None if it is not in the
        engine (unknown, finished or already aborted): aborting is idempotent. `now`
        (engine seconds) stamps the finish; defaults to the end of the last step.
        """
        req = self._requests.pop(request_id, None)
        if req is None:
            return None
        self.scheduler.remove(req)
        finished_time = self._clock if now is None else now
        self._pending_finished.append(_finished_stats(req, "abort", finished_time))
        return RequestOutput(request_id, (), True, "abort", num_cached_tokens=req.num_cached_tokens)

    def has_work(self) -> bool:
        """Whether `step` would do anything (requests in flight, or stats to report)."""
        return bool(self._requests or self._pending_finished)

    def snapshot(self) -> EngineSnapshot:
        return EngineSnapshot(
            num_running=len(self.scheduler.running),
            num_waiting=len(self.scheduler.waiting),
            kv_cache_usage=self.kv.usage,
            num_gpu_blocks=self.config.num_gpu_blocks,
            block_size=self.config.block_size,
            num_cached_blocks=self.kv.pool.num_cached_blocks,
        )

    def reset_prefix_cache(self, now: float | None = None) -> bool:
        """Forget every cached block (vLLM's /reset_prefix_cache); False while any is in use."""
        if not self.kv.reset_prefix_cache():
            return False
        self._publish_events(self._clock if now is None else now)
        return True

    # --- stepping ---------------------------------------------------------------------

    def step(self, now: float) -> StepResult:
        """Schedule and run one step starting at engine time `now`."""
        batch = self.scheduler.schedule(now)
        duration = self._duration(batch)
        end = now + duration
        self._clock = end
        outcome = _StepOutcome()
        for req, num_tokens in batch.num_scheduled_tokens.items():
            req.num_computed_tokens += num_tokens
            if req.num_computed_tokens >= req.num_tokens:
                self._sample(req, end, outcome)
        if outcome.finished:
            self._finish(outcome.finished, end)
        self._publish_events(end)
        return StepResult(outcome.outputs, self._stats(now, duration, batch, outcome), duration)

    def _duration(self, batch: ScheduledBatch) -> float:
        context_tokens = 0
        attention_pairs = 0.0
        for req, q in batch.num_scheduled_tokens.items():
            # Tokens computed before this step: the chunk attends to them and to itself.
            cached = req.num_computed_tokens
            context_tokens += cached + q
            attention_pairs += q * cached + q * (q + 1) / 2
        base = self.profile.step_time(
            len(batch.num_scheduled_tokens),
            batch.num_tokens,
            context_tokens,
            attention_pairs,
        )
        return base * self.slowdown

    def _sample(self, req: RequestState, end: float, outcome: _StepOutcome) -> None:
        """The step computed the request's last known token: it samples the next one."""
        if req.num_output_tokens == req.max_output_tokens:  # only when no output at all
            outcome.outputs.append(
                RequestOutput(req.request_id, (), True, req.finish_reason, req.num_cached_tokens)
            )
            outcome.finished.append(req)
            return
        token = req.all_token_ids[req.num_tokens]
        req.num_tokens += 1
        req.num_output_tokens += 1
        if self._hash_outputs and req.num_tokens % self._block_size == 0:
            self._extend_hashes(req)  # the token completed a block
        if req.first_token_time is None:
            req.first_token_time = end
            outcome.ttfts.append(end - req.arrival_time)
        else:
            outcome.itls.append(end - req.last_token_time)
        req.last_token_time = end
        outcome.generation_tokens += 1
        done = req.num_output_tokens == req.max_output_tokens
        outcome.outputs.append(
            RequestOutput(
                req.request_id,
                (token,),
                done,
                req.finish_reason if done else None,
                req.num_cached_tokens,
            )
        )
        if done:
            outcome.finished.append(req)

    def _extend_hashes(self, req: RequestState) -> None:
        self._hasher.extend(
            req.block_hashes, req.all_token_ids, req.num_tokens, req.lora_key, req.salt_key
        )

    def _finish(self, finished: list[RequestState], end: float) -> None:
        self.scheduler.remove_finished(finished)
        for req in finished:
            del self._requests[req.request_id]
            self._pending_finished.append(_finished_stats(req, req.finish_reason, end))

    def _publish_events(self, timestamp: float) -> None:
        events = self.kv.take_events()
        if events and self._sink is not None:
            self._sink(KVEventBatch(timestamp=timestamp, events=events))

    def _stats(
        self, now: float, duration: float, batch: ScheduledBatch, outcome: _StepOutcome
    ) -> StepStats:
        finished, self._pending_finished = self._pending_finished, []
        return StepStats(
            now=now,
            duration=duration,
            num_scheduled_tokens=batch.num_tokens,
            ttfts=outcome.ttfts,
            inter_token_latencies=outcome.itls,
            prompt_tokens=batch.prompt_tokens,
            generation_tokens=outcome.generation_tokens,
            prefix_cache_queries=batch.prefix_cache_queries,
            prefix_cache_hits=batch.prefix_cache_hits,
            preemptions=batch.num_preemptions,
            finished=finished,
        )


def _finished_stats(
    req: RequestState, reason: FinishReason, finished_time: float
) -> FinishedRequestStats:
    return FinishedRequestStats(
        request_id=req.request_id,
        finish_reason=reason,
        prompt_tokens=req.num_prompt_tokens,
        generation_tokens=req.num_output_tokens,
        num_cached_tokens=req.num_cached_tokens,
        arrival_time=req.arrival_time,
        first_scheduled_time=req.first_scheduled_time,
        first_token_time=req.first_token_time,
        finished_time=finished_time,
    )


def _str_or_none(value: int | None) -> str | None:
    return None if value is None else str(value)

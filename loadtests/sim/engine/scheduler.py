"""vLLM v1's scheduler (vllm/v1/core/sched/scheduler.py), one step at a time.

Continuous batching with chunked prefill: each step has a budget of
`max_num_batched_tokens`; running requests are served first (one decode token each, or the
next chunk of an unfinished prefill), then waiting ones in queue order while budget and
`max_num_seqs` slots remain. When a running request cannot get a block, the scheduler
preempts by recompute: the victim's blocks are freed (they stay cached) and it goes back to
the front of the waiting queue.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Protocol

from loadtests.sim.engine.kv_cache import KVCacheManager
from loadtests.sim.engine.types import EngineRequest, FinishReason, SchedulingPolicy


class RequestState:
    """The engine's mutable view of one request; owned by the engine core."""

    __slots__ = (
        "all_token_ids",
        "arrival_time",
        "block_hashes",
        "finish_reason",
        "first_scheduled_time",
        "first_token_time",
        "last_token_time",
        "lora_id",
        "lora_key",
        "lora_name",
        "max_output_tokens",
        "num_cached_tokens",
        "num_computed_tokens",
        "num_output_tokens",
        "num_preemptions",
        "num_prompt_tokens",
        "num_tokens",
        "priority",
        "request_id",
        "salt_key",
        "seq",
    )

    def __init__(self, request: EngineRequest, seq: int, max_total_tokens: int) -> None:
        """`max_total_tokens`: prompt + output cap (max_model_len); outputs beyond it are cut."""
        self.request_id = request.request_id
        self.seq = seq  # submission order, the final tie-break
        self.priority = request.priority
        self.arrival_time = request.arrival_time
        self.lora_id = request.lora_id
        self.lora_name = request.lora_name
        self.lora_key = 0
        self.salt_key = 0
        self.num_prompt_tokens = len(request.prompt_token_ids)
        outputs = list(request.output_token_ids[: max_total_tokens - self.num_prompt_tokens])
        self.max_output_tokens = len(outputs)
        self.finish_reason: FinishReason = (
            request.finish_reason if len(outputs) == len(request.output_token_ids) else "length"
        )
        self.all_token_ids = [*request.prompt_token_ids, *outputs]
        self.num_tokens = self.num_prompt_tokens  # known so far: prompt + sampled outputs
        self.num_output_tokens = 0
        self.num_computed_tokens = 0
        self.block_hashes: list[int] = []
        self.num_preemptions = 0
        self.num_cached_tokens = 0
        self.first_scheduled_time: float | None = None
        self.first_token_time: float | None = None
        self.last_token_time = 0.0

    @property
    def sort_key(self) -> tuple[int, float, int]:
        """vLLM's priority order: lower priority value, then earlier arrival, first."""
        return (self.priority, self.arrival_time, self.seq)

    def __repr__(self) -> str:
        return (
            f"RequestState({self.request_id!r}, computed={self.num_computed_tokens}/"
            f"{self.num_tokens}, outputs={self.num_output_tokens}/{self.max_output_tokens})"
        )


class WaitingQueue(Protocol):
    """The order in which waiting requests are admitted."""

    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[RequestState]: ...
    def add(self, req: RequestState) -> None: ...
    def prepend(self, req: RequestState) -> None: ...  # a preempted request
    def peek(self) -> RequestState: ...
    def pop(self) -> RequestState: ...
    def remove(self, req: RequestState) -> None: ...


class FCFSQueue:
    """Arrival order; preempted requests go back to the front (vLLM's `FCFSRequestQueue`)."""

    def __init__(self) -> None:
        self._items: deque[RequestState] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[RequestState]:
        return iter(self._items)

    def add(self, req: RequestState) -> None:
        self._items.append(req)

    def prepend(self, req: RequestState) -> None:
        self._items.appendleft(req)

    def peek(self) -> RequestState:
        return self._items[0]

    def pop(self) -> RequestState:
        return self._items.popleft()

    def remove(self, req: RequestState) -> None:
        self._items.remove(req)


class PriorityQueue:
    """(priority, arrival) order, preempted requests included (vLLM's `PriorityRequestQueue`)."""

    def __init__(self) -> None:
        self._heap: list[tuple[tuple[int, float, int], RequestState]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def __iter__(self) -> Iterator[RequestState]:
        return (req for _, req in sorted(self._heap, key=lambda item: item[0]))

    def add(self, req: RequestState) -> None:
        heapq.heappush(self._heap, (req.sort_key, req))

    def prepend(self, req: RequestState) -> None:
        self.add(req)

    def peek(self) -> RequestState:
        return self._heap[0][1]

    def pop(self) -> RequestState:
        return heapq.heappop(self._heap)[1]

    def remove(self, req: RequestState) -> None:
        self._heap = [item for item in self._heap if item[1] is not req]
        heapq.heapify(self._heap)


WAITING_QUEUES: Mapping[SchedulingPolicy, type[FCFSQueue] | type[PriorityQueue]] = {
    "fcfs": FCFSQueue,
    "priority": PriorityQueue,
}


class ScheduledBatch:
    """What one step computes: tokens per request, in scheduling order."""

    __slots__ = (
        "admitted",
        "budget",
        "num_preemptions",
        "num_scheduled_tokens",
        "num_tokens",
        "prefix_cache_hits",
        "prefix_cache_queries",
        "prompt_tokens",
    )

    def __init__(self, budget: int) -> None:
        self.budget = budget  # tokens left in this step
        self.num_tokens = 0  # tokens scheduled in this step
        self.num_scheduled_tokens: dict[RequestState, int] = {}
        self.admitted: list[RequestState] = []  # fresh admissions (never preempted)
        self.num_preemptions = 0
        self.prompt_tokens = 0
        self.prefix_cache_queries = 0
        self.prefix_cache_hits = 0

    def add(self, req: RequestState, num_tokens: int) -> None:
        self.num_scheduled_tokens[req] = num_tokens
        self.budget -= num_tokens
        self.num_tokens += num_tokens

    def discard(self, req: RequestState) -> None:
        num_tokens = self.num_scheduled_tokens.pop(req, 0)
        self.budget += num_tokens
        self.num_tokens -= num_tokens


class Scheduler:
    """Decides each step's batch; owns the running list and the waiting queue."""

    def __init__(
        self,
        kv: KVCacheManager,
        *,
        max_num_batched_tokens: int,
        max_num_seqs: int,
        policy: SchedulingPolicy = "fcfs",
    ) -> None:
        self.kv = kv
        self.max_num_batched_tokens = max_num_batched_tokens
        self.max_num_seqs = max_num_seqs
        self.policy = policy
        self.running: list[RequestState] = []  # in admission order
        self.waiting: WaitingQueue = WAITING_QUEUES[policy]()
        self.num_preemptions = 0

    def add(self, req: RequestState) -> None:
        self.waiting.add(req)

    def remove(self, req: RequestState) -> None:
        """Take a request out of running or waiting and free its blocks (they stay cached)."""
        if req in self.running:
            self.running.remove(req)
        else:
            self.waiting.remove(req)
        self.kv.free(req.request_id)

    def remove_finished(self, finished: list[RequestState]) -> None:
        gone = set(finished)
        self.running = [req for req in self.running if req not in gone]
        for req in finished:
            self.kv.free(req.request_id)

    def schedule(self, now: float) -> ScheduledBatch:
        batch = ScheduledBatch(self.max_num_batched_tokens)
        self._schedule_running(batch)
        # vLLM admits nothing in a step that had to preempt: memory is short.
        if batch.num_preemptions == 0:
            self._schedule_waiting(batch, now)
        return batch

    def _schedule_running(self, batch: ScheduledBatch) -> None:
        running = self.running
        append_slots = self.kv.append_slots
        index = 0
        while index < len(running) and batch.budget > 0:
            req = running[index]
            num_new = req.num_tokens - req.num_computed_tokens
            if num_new > batch.budget:
                num_new = batch.budget
            while not append_slots(req, num_new):
                victim_index = self._victim_index()
                victim = running.pop(victim_index)
                self._preempt(victim, batch)
                if victim is req:
                    return  # nothing left to preempt: this request waits, and so do the rest
                if victim_index < index:
                    index -= 1
            batch.add(req, num_new)
            index += 1

    def _victim_index(self) -> int:
        """FCFS: the most recently admitted; priority: the lowest priority, latest arrival."""
        if self.policy == "priority":
            keys = [req.sort_key for req in self.running]
            return keys.index(max(keys))
        return len(self.running) - 1

    def _preempt(self, req: RequestState, batch: ScheduledBatch) -> None:
        batch.discard(req)
        self.kv.free(req.request_id)
        req.num_computed_tokens = 0
        req.num_preemptions += 1
        batch.num_preemptions += 1
        self.num_preemptions += 1
        self.waiting.prepend(req)

    def _schedule_waiting(self, batch: ScheduledBatch, now: float) -> None:
        kv = self.kv
        while len(self.waiting) and batch.budget > 0 and len(self.running) < self.max_num_seqs:
            req = self.waiting.peek()
            hits = kv.find_cached_prefix(req)
            num_cached = len(hits) * kv.block_size
            # Admit only if the whole prompt fits (SIMULATOR.md); if the head does not fit,
            # nothing behind it is tried (head-of-line blocking, as in vLLM).
            if kv.blocks_needed(req, req.num_tokens, hits) > kv.num_free_blocks:
                return
            num_new = min(req.num_tokens - num_cached, batch.budget)
            if not kv.allocate_slots(req, num_new, hits):
                return
            self.waiting.pop()
            self.running.append(req)
            req.num_computed_tokens = num_cached
            if req.first_scheduled_time is None:
                req.first_scheduled_time = now
            if req.num_preemptions == 0:
                self._count_fresh_admission(req, num_cached, batch)
            batch.add(req, num_new)

    @staticmethod
    def _count_fresh_admission(req: RequestState, num_cached: int, batch: ScheduledBatch) -> None:
        # vLLM's PrefixCacheStats keep preempted requests apart; the metrics show fresh ones.
        req.num_cached_tokens = num_cached
        batch.admitted.append(req)
        batch.prompt_tokens += req.num_prompt_tokens
        batch.prefix_cache_queries += req.num_tokens
        batch.prefix_cache_hits += num_cached

"""The asyncio driver: runs `EngineCore` steps in real (optionally scaled) time.

One owned task runs the step loop. A step starting at engine time t runs until
t + duration; its tokens, KV events and stats are delivered at that deadline (in wall time,
start + (t + duration) / time_scale), when the simulated GPU would have produced them, not
when the step is scheduled. Deadlines are absolute and busy steps are chained end to start,
so the loop's own CPU time does not stretch simulated time. When nothing is in flight the
loop waits on an event: an idle engine costs no CPU.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace

from loadtests.sim.engine.config import EngineConfig
from loadtests.sim.engine.core import EngineCore, StepResult
from loadtests.sim.engine.types import (
    EngineRequest,
    EngineSnapshot,
    KVEventBatch,
    KVEventSink,
    RequestOutput,
    StepObserver,
)

logger = logging.getLogger(__name__)

# Wall seconds the loop may run behind its deadlines and still chain steps back to back;
# further behind (CPU starvation), simulated time resyncs to the wall clock.
MAX_LAG_S = 0.005


class RequestStream:
    """Async iterator over one request's outputs; the last one has `finished=True`.

    Single consumer. Outputs are buffered, so a slow consumer never slows the engine.
    """

    __slots__ = ("_closed", "_items", "_waiter", "request_id")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._items: deque[RequestOutput] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False  # the finished output has been put

    @property
    def finished(self) -> bool:
        return self._closed

    def __aiter__(self) -> RequestStream:
        return self

    async def __anext__(self) -> RequestOutput:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._items.popleft()

    def put(self, output: RequestOutput) -> None:
        """Engine side: deliver one output; ignored once the stream is closed."""
        if self._closed:
            return
        self._items.append(output)
        self._closed = output.finished
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class AsyncEngine:
    """An `EngineCore` stepping on the event loop; all methods must be called from that loop."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        observers: Sequence[StepObserver] = (),
        kv_event_sink: KVEventSink | None = None,
    ) -> None:
        if config.time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {config.time_scale}")
        self.config = config
        self._observers = tuple(observers)
        self._sink = kv_event_sink
        # The core publishes a step's KV events when it schedules the step; hold them until
        # the step's deadline, like its tokens (vLLM publishes after the forward pass).
        self._kv_batches: list[KVEventBatch] = []
        self._core = EngineCore(
            config, self._kv_batches.append if kv_event_sink is not None else None
        )
        self._streams: dict[str, RequestStream] = {}
        self._aborts: list[str] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._start_wall = time.monotonic()
        self._last_submit = 0.0  # engine time of the latest submit

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("engine already started")
        self._start_wall = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="kvgate-sim-engine-loop")
        self._task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        """Stop the loop now (mid-step if need be); every open stream ends with "abort".

        Idempotent; the engine cannot be started again.
        """
        task = self._task
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])
        self._abort_all()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def slowdown(self) -> float:
        return self._core.slowdown

    @slowdown.setter
    def slowdown(self, factor: float) -> None:
        if not factor >= 1.0:
            raise ValueError(f"slowdown must be >= 1, got {factor}")
        self._core.slowdown = factor

    def now(self) -> float:
        """Engine seconds: wall seconds since `start` × time_scale."""
        return (time.monotonic() - self._start_wall) * self.config.time_scale

    # --- requests ---------------------------------------------------------------------

    def submit(self, request: EngineRequest) -> RequestStream:
        """Queue a request (non-blocking). An `arrival_time` of 0 is stamped with `now()`.

        Raises `RuntimeError` if the engine is not running, `ValueError` if the engine
        refuses the request (duplicate id, empty prompt, prompt over max_model_len).
        """
        if not self.running:
            raise RuntimeError("engine is not running")
        self._last_submit = self.now()
        if request.arrival_time == 0.0:
            request = replace(request, arrival_time=self._last_submit)
        self._core.add_request(request)
        stream = self._streams[request.request_id] = RequestStream(request.request_id)
        self._wake.set()
        return stream

    def abort(self, request_id: str) -> None:
        """Abort at the next step boundary; idempotent, unknown ids are ignored."""
        if request_id in self._streams:
            self._aborts.append(request_id)
            self._wake.set()

    def snapshot(self) -> EngineSnapshot:
        return self._core.snapshot()

    def reset_prefix_cache(self) -> bool:
        """Forget every cached block; False (nothing done) while any block is in use."""
        if not self._core.reset_prefix_cache(self.now()):
            return False
        self._flush_kv_events()
        return True

    # --- the loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        core = self._core
        scale = self.config.time_scale
        max_lag = MAX_LAG_S * scale
        busy_until: float | None = None  # end of the previous step while continuously busy
        try:
            while True:
                self._apply_aborts()
                if not core.has_work():
                    busy_until = None
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                start = self.now()
                if busy_until is not None and start - busy_until <= max_lag:
                    # Back-to-back steps: start where the last one ended, so the loop's own
                    # CPU time and timer latency do not stretch simulated time; but never
                    # before a request that this step may admit arrived.
                    start = max(busy_until, self._last_submit)
                result = core.step(start)
                busy_until = start + result.duration
                delay = self._start_wall + busy_until / scale - time.monotonic()
                # Always yield, even for a zero-time step (the `instant` profile).
                await asyncio.sleep(delay if delay > 0 else 0)
                self._deliver(result)
        finally:
            self._abort_all()

    def _deliver(self, result: StepResult) -> None:
        streams = self._streams
        for output in result.outputs:
            stream = streams.get(output.request_id)
            if stream is not None:
                stream.put(output)
                if output.finished:
                    del streams[output.request_id]
        self._flush_kv_events()
        for observer in self._observers:
            observer.on_step(result.stats)

    def _flush_kv_events(self) -> None:
        if self._sink is None or not self._kv_batches:
            return
        batches = self._kv_batches.copy()
        self._kv_batches.clear()  # the core appends to this very list
        for batch in batches:
            self._sink(batch)

    def _apply_aborts(self) -> None:
        if not self._aborts:
            return
        request_ids, self._aborts = self._aborts, []
        now = self.now()
        for request_id in request_ids:
            output = self._core.abort_request(request_id, now)
            stream = self._streams.pop(request_id, None)
            if output is not None and stream is not None:
                stream.put(output)

    def _abort_all(self) -> None:
        now = self.now()
        for request_id, stream in list(self._streams.items()):
            output = self._core.abort_request(request_id, now)
            stream.put(output or RequestOutput(request_id, (), True, "abort"))
        self._streams.clear()
        self._aborts.clear()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("engine loop crashed; open streams were aborted", exc_info=error)

"""AsyncEngine on a real event loop (fast profiles, so the tests do not wait on wall time)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from loadtests.sim.engine.async_engine import AsyncEngine, RequestStream
from loadtests.sim.engine.config import EngineConfig
from loadtests.sim.engine.types import AllBlocksCleared, KVEventBatch, RequestOutput, StepStats

from .engine_helpers import make_request, random_tokens, text_tokens

GUARD_S = 20  # a hang guard, not a timing assertion

StartEngine = Callable[..., Awaitable[AsyncEngine]]


class Recorder:
    def __init__(self) -> None:
        self.steps: list[StepStats] = []
        self.aborted = asyncio.Event()  # set once an aborted request's stats are reported

    def on_step(self, stats: StepStats) -> None:
        self.steps.append(stats)
        if any(f.finish_reason == "abort" for f in stats.finished):
            self.aborted.set()


@pytest.fixture
async def start_engine() -> AsyncIterator[StartEngine]:
    engines: list[AsyncEngine] = []

    async def start(
        profile: str = "instant", time_scale: float = 1.0, **kwargs: object
    ) -> AsyncEngine:
        config = EngineConfig.from_profile_name(profile, time_scale=time_scale)
        engine = AsyncEngine(config, **kwargs)  # type: ignore[arg-type]
        await engine.start()
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        await engine.stop()


async def collect(stream: RequestStream) -> list[RequestOutput]:
    async with asyncio.timeout(GUARD_S):
        return [output async for output in stream]


@pytest.mark.parametrize(("profile", "time_scale"), [("instant", 1.0), ("tiny", 100.0)])
async def test_streams_deliver_every_token_then_finish(
    start_engine: StartEngine, profile: str, time_scale: float
) -> None:
    recorder = Recorder()
    engine = await start_engine(profile, time_scale, observers=[recorder])
    requests = [
        make_request(f"r{i}", text_tokens(50 + 40 * i, seed=i), 5 + i, seed=i, finish_reason="stop")
        for i in range(3)
    ]
    streams = [engine.submit(r) for r in requests]
    results = await asyncio.gather(*(collect(s) for s in streams))
    for request, outputs in zip(requests, results, strict=True):
        assert [t for o in outputs for t in o.new_token_ids] == list(request.output_token_ids)
        assert [o.finished for o in outputs] == [False] * (len(outputs) - 1) + [True]
        assert outputs[-1].finish_reason == "stop"
    assert sum(s.generation_tokens for s in recorder.steps) == 5 + 6 + 7
    assert sum(len(s.ttfts) for s in recorder.steps) == 3
    assert engine.snapshot().num_running == 0


@pytest.mark.parametrize(("profile", "time_scale"), [("instant", 1.0), ("tiny", 100.0)])
async def test_abort_mid_stream_frees_the_slot_within_one_step(
    start_engine: StartEngine, profile: str, time_scale: float
) -> None:
    recorder = Recorder()
    engine = await start_engine(profile, time_scale, observers=[recorder])
    stream = engine.submit(make_request("long", text_tokens(300), 10_000))
    received: list[RequestOutput] = []
    async with asyncio.timeout(GUARD_S):
        async for output in stream:
            received.append(output)
            if len(received) == 5:
                steps_at_abort = len(recorder.steps)
                engine.abort("long")
                engine.abort("long")  # idempotent
    assert (received[-1].finished, received[-1].finish_reason) == (True, "abort")
    assert engine.snapshot().num_running == 0
    assert engine.snapshot().kv_cache_usage == 0.0
    async with asyncio.timeout(GUARD_S):
        await recorder.aborted.wait()
    abort_step = next(i for i, s in enumerate(recorder.steps) if s.finished)
    assert abort_step <= steps_at_abort + 1


async def test_abort_before_the_first_step_and_unknown_ids(start_engine: StartEngine) -> None:
    engine = await start_engine()
    engine.abort("nobody")
    stream = engine.submit(make_request("r", random_tokens(20, seed=1), 50))
    engine.abort("r")
    assert await collect(stream) == [RequestOutput("r", (), True, "abort", 0)]


async def test_stop_ends_every_stream_with_abort(start_engine: StartEngine) -> None:
    engine = await start_engine("tiny", 10.0)
    streams = [engine.submit(make_request(f"r{i}", text_tokens(100), 100_000)) for i in range(3)]
    async with asyncio.timeout(GUARD_S):
        first = await anext(streams[0])
    assert first.new_token_ids
    await engine.stop()
    assert not engine.running
    for stream in streams:
        outputs = await collect(stream)
        assert outputs[-1].finish_reason == "abort"
    with pytest.raises(RuntimeError, match="not running"):
        engine.submit(make_request("late", [1, 2, 3]))
    await engine.stop()  # idempotent


async def test_idle_loop_does_not_step(start_engine: StartEngine) -> None:
    recorder = Recorder()
    engine = await start_engine(observers=[recorder])
    await collect(engine.submit(make_request("r", random_tokens(40, seed=1), 3)))
    await asyncio.sleep(0.01)  # let the loop go idle
    steps = len(recorder.steps)
    for _ in range(100):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert len(recorder.steps) == steps
    assert engine.running


async def test_kv_events_reach_the_sink(start_engine: StartEngine) -> None:
    batches: list[KVEventBatch] = []
    engine = await start_engine(kv_event_sink=batches.append)
    prompt = text_tokens(64)
    await collect(engine.submit(make_request("a", prompt, 2)))
    outputs = await collect(engine.submit(make_request("b", prompt, 2)))
    assert outputs[0].num_cached_tokens == 48
    assert batches
    assert all(batch.events for batch in batches)
    assert engine.reset_prefix_cache()
    assert batches[-1].events == [AllBlocksCleared()]


async def test_slowdown_and_duplicate_ids(start_engine: StartEngine) -> None:
    engine = await start_engine()
    engine.slowdown = 2.5
    assert engine.slowdown == 2.5
    with pytest.raises(ValueError, match=">= 1"):
        engine.slowdown = 0.5
    stream = engine.submit(make_request("dup", [1, 2, 3], 2))
    with pytest.raises(ValueError, match="already"):
        engine.submit(make_request("dup", [1, 2, 3], 2))
    await collect(stream)


async def test_start_twice_is_an_error(start_engine: StartEngine) -> None:
    engine = await start_engine()
    with pytest.raises(RuntimeError, match="already started"):
        await engine.start()


class Exploding:
    def on_step(self, stats: StepStats) -> None:
        raise RuntimeError("observer bug")


async def test_a_crashed_loop_ends_every_stream(
    start_engine: StartEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await start_engine(observers=[Exploding()])
    outputs = await collect(engine.submit(make_request("r", random_tokens(40, seed=1), 50)))
    assert outputs[-1].finish_reason == "abort"
    await asyncio.sleep(0)  # let the done-callback run
    assert not engine.running
    assert "engine loop crashed" in caplog.text

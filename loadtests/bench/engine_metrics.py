"""The engines' own view of a run, from their Prometheus `/metrics` (vLLM names).

`EngineSampler` scrapes every engine when a run starts, every `interval_s` during it and
when it ends. `summarize` turns the scrapes into what the report needs: the prefix-cache
hit rate (Δ`vllm:prefix_cache_hits_total` / Δ`vllm:prefix_cache_queries_total`, both in
tokens), preemptions, requests and prompt tokens per engine (how evenly the router spread
the load), and per-engine running and waiting requests over time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import aiohttp

# Each field of `EngineSample` ← the first metric name present, in this order (vLLM
# renamed a few; the older `gpu_` names are still scraped from older engines).
METRICS: Mapping[str, tuple[str, ...]] = {
    "prefix_hits": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    "prefix_queries": ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    "preemptions": ("vllm:num_preemptions_total",),
    "requests": ("vllm:request_success_total",),
    "prompt_tokens": ("vllm:prompt_tokens_total",),
    "generation_tokens": ("vllm:generation_tokens_total",),
    "running": ("vllm:num_requests_running",),
    "waiting": ("vllm:num_requests_waiting",),
    "kv_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
}


@dataclass(frozen=True)
class EngineSample:
    """One scrape of one engine: counters since it started (summed over label sets, e.g.
    every `finished_reason`) and gauges at the time of the scrape."""

    prefix_hits: float = 0.0
    prefix_queries: float = 0.0
    preemptions: float = 0.0
    requests: float = 0.0
    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    running: float = 0.0
    waiting: float = 0.0
    kv_usage: float = 0.0


def parse(text: str) -> EngineSample:
    """The sample in a Prometheus text page; absent metrics are 0."""
    wanted = {name for names in METRICS.values() for name in names}
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        brace = line.find("{")
        if brace >= 0:
            name, rest = line[:brace], line[line.rfind("}") + 1 :]
        else:
            name, _, rest = line.partition(" ")
        if name not in wanted:
            continue
        value = rest.split()
        with contextlib.suppress(ValueError, IndexError):
            totals[name] = totals.get(name, 0.0) + float(value[0])
    values: dict[str, float] = {}
    for key, names in METRICS.items():
        present = [totals[name] for name in names if name in totals]
        values[key] = present[0] if present else 0.0
    return EngineSample(**values)


@dataclass(frozen=True)
class Snapshot:
    """Every engine at one moment; `t_s` counts from the sampler's start (wall seconds).
    An engine whose scrape failed is None."""

    t_s: float
    engines: tuple[EngineSample | None, ...]


class EngineSampler:
    """Scrapes `urls` (engine base URLs) at start, every `interval_s` and at exit.

    Use as an async context manager around the run; the periodic task is owned by it and
    cancelled on exit. Each scrape has its own timeout (`timeout_s`)."""

    def __init__(self, urls: Sequence[str], interval_s: float = 1.0, timeout_s: float = 2.0):
        self._urls = tuple(url.rstrip("/") + "/metrics" for url in urls)
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._start = 0.0
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.snapshots: list[Snapshot] = []

    async def __aenter__(self) -> EngineSampler:
        timeout = aiohttp.ClientTimeout(total=self._timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout, trust_env=False)
        self._start = time.perf_counter()
        self.snapshots.append(await self._scrape_all(self._session))
        self._task = asyncio.create_task(self._loop(self._session))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            try:
                self.snapshots.append(await self._scrape_all(self._session))
            finally:
                await self._session.close()

    async def _loop(self, session: aiohttp.ClientSession) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            self.snapshots.append(await self._scrape_all(session))

    async def _scrape_all(self, session: aiohttp.ClientSession) -> Snapshot:
        samples = await asyncio.gather(*(_scrape(session, url) for url in self._urls))
        return Snapshot(time.perf_counter() - self._start, tuple(samples))


async def _scrape(session: aiohttp.ClientSession, url: str) -> EngineSample | None:
    try:
        async with session.get(url) as response:
            if response.status != 200:
                return None
            return parse(await response.text())
    except (aiohttp.ClientError, TimeoutError):
        return None


@dataclass(frozen=True)
class EngineReport:
    """What the engines saw over a run. Counts are deltas between the first and the last
    successful scrape of each engine; `over_time` has one entry per scrape."""

    prefix_hit_rate: float | None  # hit tokens / queried tokens, all engines; None: no query
    preemptions: int
    requests: tuple[int, ...]  # per engine
    prompt_tokens: tuple[int, ...]  # per engine
    computed_prompt_tokens: tuple[int, ...]  # per engine: queried minus hit (prefill work)
    imbalance: float | None  # max / mean of requests per engine (1.0: perfectly even)
    over_time: LoadOverTime

    def to_json(self) -> dict[str, object]:
        return {
            "prefix_hit_rate": self.prefix_hit_rate,
            "preemptions": self.preemptions,
            "requests": list(self.requests),
            "prompt_tokens": list(self.prompt_tokens),
            "computed_prompt_tokens": list(self.computed_prompt_tokens),
            "imbalance": self.imbalance,
            "over_time": self.over_time.to_json(),
        }


@dataclass(frozen=True)
class LoadOverTime:
    """Per-engine gauges at each scrape; `t_s` scaled by the caller's `time_scale`."""

    t_s: tuple[float, ...]
    running: tuple[tuple[float | None, ...], ...]  # [engine][scrape]
    waiting: tuple[tuple[float | None, ...], ...]

    def to_json(self) -> dict[str, object]:
        return {
            "t_s": list(self.t_s),
            "running": [list(row) for row in self.running],
            "waiting": [list(row) for row in self.waiting],
        }


def summarize(snapshots: Sequence[Snapshot], time_scale: float = 1.0) -> EngineReport:
    """The report of a run from its scrapes (at least one)."""
    engines = len(snapshots[0].engines) if snapshots else 0
    deltas = [_delta([s.engines[i] for s in snapshots]) for i in range(engines)]
    hits = sum(d.prefix_hits for d in deltas)
    queries = sum(d.prefix_queries for d in deltas)
    requests = tuple(round(d.requests) for d in deltas)
    mean = sum(requests) / len(requests) if requests else 0.0
    return EngineReport(
        prefix_hit_rate=hits / queries if queries > 0 else None,
        preemptions=round(sum(d.preemptions for d in deltas)),
        requests=requests,
        prompt_tokens=tuple(round(d.prompt_tokens) for d in deltas),
        computed_prompt_tokens=tuple(round(d.prefix_queries - d.prefix_hits) for d in deltas),
        imbalance=max(requests) / mean if mean > 0 else None,
        over_time=LoadOverTime(
            t_s=tuple(round(s.t_s * time_scale, 3) for s in snapshots),
            running=tuple(_gauge(snapshots, i, "running") for i in range(engines)),
            waiting=tuple(_gauge(snapshots, i, "waiting") for i in range(engines)),
        ),
    )


def _delta(samples: Sequence[EngineSample | None]) -> EngineSample:
    ok = [s for s in samples if s is not None]
    if len(ok) < 2:
        return EngineSample()
    first, last = ok[0], ok[-1]
    return EngineSample(
        **{f.name: getattr(last, f.name) - getattr(first, f.name) for f in fields(EngineSample)}
    )


def _gauge(snapshots: Sequence[Snapshot], engine: int, name: str) -> tuple[float | None, ...]:
    samples = (s.engines[engine] for s in snapshots)
    return tuple(None if s is None else getattr(s, name) for s in samples)

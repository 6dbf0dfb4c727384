"""How much CPU one simulator costs: a short benchmark, not a test.

Starts one `kvgate-sim` (h100-llama3-8b profile by default, real time) with `Fleet`,
keeps N streaming chat requests in flight for a while with httpx, and prints the engine's
steps per second, generated tokens per second and the simulator process's CPU use (user +
system time from /proc/PID/stat over the measured interval), plus the load generator's own
CPU so the measurement can be judged.

    python -m loadtests.sim.bench --concurrency 64 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from loadtests.fleet import Fleet

MODEL = "Qwen/Qwen2.5-7B-Instruct"
_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def counters(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics", timeout=5).text
    wanted = {"kvgate_sim_steps_total", "vllm:generation_tokens_total"}
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in wanted
    }


@dataclass
class Load:
    streams_done: int = 0
    chunks: int = 0
    errors: int = 0


async def _one_stream(client: httpx.AsyncClient, load: Load, index: int, max_tokens: int) -> None:
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": f"Question {index}: summarise the history of caching."},
        ],
        "max_tokens": max_tokens,
        "stream": True,
    }
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    load.chunks += 1
        load.streams_done += 1
    except httpx.HTTPError:
        load.errors += 1


async def _drive(url: str, concurrency: int, until: float, max_tokens: int, load: Load) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(60.0, connect=5.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

        async def worker(worker_id: int) -> None:
            count = 0
            while time.monotonic() < until:
                await _one_stream(client, load, worker_id * 1_000_000 + count, max_tokens)
                count += 1

        async with asyncio.TaskGroup() as group:
            for worker_id in range(concurrency):
                group.create_task(worker(worker_id))


def run(concurrency: int, duration: float, warmup: float, max_tokens: int, profile: str) -> None:
    with Fleet() as fleet:
        sim = fleet.start_sim(profile=profile, name="bench-sim")
        pid = sim.popen.pid
        load = Load()
        start_at = time.monotonic() + warmup
        end_at = start_at + duration

        async def main() -> tuple[dict[str, float], float, float, float]:
            driver = asyncio.create_task(_drive(sim.url, concurrency, end_at, max_tokens, load))
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            before = await asyncio.to_thread(counters, sim.url)
            cpu_before, own_before = process_cpu_seconds(pid), time.process_time()
            wall_before = time.monotonic()
            await asyncio.sleep(max(0.0, end_at - time.monotonic()))
            after = await asyncio.to_thread(counters, sim.url)
            cpu = process_cpu_seconds(pid) - cpu_before
            own = time.process_time() - own_before
            wall = time.monotonic() - wall_before
            await driver  # in-flight streams finish (max_tokens bounds them)
            deltas = {name: after[name] - before[name] for name in after}
            return deltas, cpu, own, wall

        deltas, cpu, own, wall = asyncio.run(main())
    steps = deltas["kvgate_sim_steps_total"] / wall
    tokens = deltas["vllm:generation_tokens_total"] / wall
    print(f"{profile}: {concurrency} concurrent streams, {wall:.1f} s measured after warm-up")
    print(f"engine steps/s        {steps:8.1f}")
    print(f"tokens/s (generated)  {tokens:8.0f}")
    print(f"sim CPU               {100 * cpu / wall:8.1f} % of one core")
    print(
        f"sim CPU per step      {1000 * cpu / max(1.0, deltas['kvgate_sim_steps_total']):8.2f} ms"
    )
    print(f"load generator CPU    {100 * own / wall:8.1f} % of one core")
    print(f"streams completed {load.streams_done}, chunks {load.chunks}, errors {load.errors}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.sim.bench", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--profile", default="h100-llama3-8b")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        run(args.concurrency, args.duration, args.warmup, args.max_tokens, args.profile)


if __name__ == "__main__":
    main()

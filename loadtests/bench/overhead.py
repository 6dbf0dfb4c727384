"""The gateway's own cost: added latency and requests per second against `instant` engines.

Same engines, same client, same requests: once straight to the engines (the client
round-robins over them) and once through one gateway process. Latency is measured one
request at a time (no queueing anywhere); throughput with a closed loop of concurrent
clients. The engines use the `instant` profile (zero step time), so the difference is the
gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from loadtests.bench.procstat import cpu_seconds
from loadtests.bench.stats import Summary
from loadtests.fleet import Fleet

MODEL = "Qwen/Qwen2.5-7B-Instruct"


@dataclass(frozen=True)
class Sample:
    latency: float
    ttft: float
    chunks: int


@dataclass(frozen=True)
class LatencyResult:
    target: str
    stream: bool
    latency_ms: Summary
    ttft_ms: Summary
    chunks_per_request: float


@dataclass(frozen=True)
class ThroughputResult:
    target: str
    stream: bool
    concurrency: int
    requests: int
    seconds: float
    rps: float
    gateway_cpu_ms_per_request: float | None
    client_cpu_s: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engines", type=int, default=2)
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests per run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="throughput run seconds")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--gateway-arg", action="append", default=[])
    parser.add_argument("--out", type=Path, default=None, help="write JSON results here")


def chat_body(stream: bool, max_tokens: int, n: int) -> bytes:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Say hi #{n}"}],
        "max_tokens": max_tokens,
        "stream": stream,
    }
    return json.dumps(body).encode()


async def one_request(client: httpx.AsyncClient, url: str, body: bytes, stream: bool) -> Sample:
    start = time.perf_counter()
    ttft = 0.0
    chunks = 0
    headers = {"content-type": "application/json"}
    async with client.stream("POST", url, content=body, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
        async for chunk in response.aiter_bytes():
            if not chunks:
                ttft = time.perf_counter() - start
            chunks += chunk.count(b"data: ") if stream else 1
    return Sample(time.perf_counter() - start, ttft, chunks)


async def measure_latency(
    urls: Sequence[str], target: str, stream: bool, requests: int, max_tokens: int
) -> LatencyResult:
    cycle = itertools.cycle(urls)
    async with httpx.AsyncClient(timeout=30.0, trust_env=False) as client:
        for n in range(min(100, requests)):  # warm connections and caches
            await one_request(client, next(cycle), chat_body(stream, max_tokens, n), stream)
        samples = [
            await one_request(client, next(cycle), chat_body(stream, max_tokens, n), stream)
            for n in range(requests)
        ]
    return LatencyResult(
        target=target,
        stream=stream,
        latency_ms=Summary.of([s.latency * 1000 for s in samples]),
        ttft_ms=Summary.of([s.ttft * 1000 for s in samples]),
        chunks_per_request=sum(s.chunks for s in samples) / len(samples),
    )


async def measure_throughput(
    urls: Sequence[str],
    target: str,
    stream: bool,
    concurrency: int,
    duration: float,
    max_tokens: int,
    gateway_pid: int | None,
) -> ThroughputResult:
    cycle = itertools.cycle(urls)
    done = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30.0, limits=limits, trust_env=False) as client:
        deadline = time.perf_counter() + duration

        async def worker(worker_id: int) -> None:
            nonlocal done
            n = worker_id * 1_000_000
            while time.perf_counter() < deadline:
                await one_request(client, next(cycle), chat_body(stream, max_tokens, n), stream)
                done += 1
                n += 1

        cpu_gateway = cpu_seconds(gateway_pid) if gateway_pid else 0.0
        cpu_client = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        seconds = time.perf_counter() - start
        client_cpu = time.process_time() - cpu_client
        gateway_cpu = (cpu_seconds(gateway_pid) - cpu_gateway) if gateway_pid else None
    return ThroughputResult(
        target=target,
        stream=stream,
        concurrency=concurrency,
        requests=done,
        seconds=seconds,
        rps=done / seconds,
        gateway_cpu_ms_per_request=gateway_cpu * 1000 / done if gateway_cpu and done else None,
        client_cpu_s=client_cpu,
    )


def format_report(latency: Sequence[LatencyResult], throughput: Sequence[ThroughputResult]) -> str:
    lines = [
        "| target | mode | p50 ms | p99 ms | TTFT p50 ms | chunks/req |",
        "|---|---|---|---|---|---|",
    ]
    for r in latency:
        mode = "stream" if r.stream else "non-stream"
        lines.append(
            f"| {r.target} | {mode} | {r.latency_ms.p50:.2f} | {r.latency_ms.p99:.2f} "
            f"| {r.ttft_ms.p50:.2f} | {r.chunks_per_request:.0f} |"
        )
    by_key = {(r.target, r.stream): r for r in latency}
    for stream in (False, True):
        direct, gateway = by_key.get(("direct", stream)), by_key.get(("gateway", stream))
        if direct and gateway:
            mode = "stream" if stream else "non-stream"
            added50 = gateway.latency_ms.p50 - direct.latency_ms.p50
            added99 = gateway.latency_ms.p99 - direct.latency_ms.p99
            lines.append(f"\nadded latency ({mode}): p50 {added50:+.2f} ms, p99 {added99:+.2f} ms")
            if stream and gateway.chunks_per_request:
                per_chunk = added50 / gateway.chunks_per_request
                lines.append(f"added per streamed chunk (p50 / chunks): {per_chunk * 1000:.0f} µs")
    lines += [
        "",
        "| target | mode | concurrency | requests | rps | gateway CPU ms/req | client CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in throughput:
        mode = "stream" if t.stream else "non-stream"
        cpu = f"{t.gateway_cpu_ms_per_request:.2f}" if t.gateway_cpu_ms_per_request else "-"
        lines.append(
            f"| {t.target} | {mode} | {t.concurrency} | {t.requests} | {t.rps:.0f} | {cpu} "
            f"| {t.client_cpu_s:.1f} |"
        )
    return "\n".join(lines)


async def run_all(args: argparse.Namespace, fleet: Fleet) -> str:
    sims = [fleet.start_sim(profile="instant", model=MODEL) for _ in range(args.engines)]
    gateway = fleet.start_gateway([s.url for s in sims], extra_args=args.gateway_arg)
    targets = {
        "direct": ([f"{s.url}/v1/chat/completions" for s in sims], None),
        "gateway": ([f"{gateway.url}/v1/chat/completions"], gateway.popen.pid),
    }
    latency: list[LatencyResult] = []
    throughput: list[ThroughputResult] = []
    for stream in (False, True):
        for target, (urls, _) in targets.items():
            latency.append(
                await measure_latency(urls, target, stream, args.requests, args.max_tokens)
            )
        for target, (urls, pid) in targets.items():
            throughput.append(
                await measure_throughput(
                    urls, target, stream, args.concurrency, args.duration, args.max_tokens, pid
                )
            )
    report = format_report(latency, throughput)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        machine = {
            "cpus": os.cpu_count(),
            "load": os.getloadavg(),
            "python": platform.python_version(),
        }
        payload = {
            "machine": machine,
            "args": {k: str(v) for k, v in vars(args).items()},
            "latency": [asdict(r) for r in latency],
            "throughput": [asdict(t) for t in throughput],
        }
        args.out.write_text(json.dumps(payload, indent=2))
    return report


def run(args: argparse.Namespace) -> int:
    with Fleet() as fleet:
        print(asyncio.run(run_all(args, fleet)))
    return 0

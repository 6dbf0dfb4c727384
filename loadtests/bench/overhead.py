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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

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
    max_tokens: int
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
    parser.add_argument(
        "--long-tokens", type=int, default=128, help="stream length for the per-chunk cost"
    )
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


HEADERS = {"content-type": "application/json"}


def session(concurrency: int) -> aiohttp.ClientSession:
    """One keep-alive client; aiohttp costs about half of httpx per request, so the
    measuring client stays cheaper than what it measures."""
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30), trust_env=False
    )


async def one_request(client: aiohttp.ClientSession, url: str, body: bytes, stream: bool) -> Sample:
    start = time.perf_counter()
    ttft = 0.0
    chunks = 0
    async with client.post(url, data=body, headers=HEADERS) as response:
        if response.status != 200:
            text = await response.text()
            raise RuntimeError(f"{url}: HTTP {response.status}: {text[:200]}")
        async for chunk in response.content.iter_any():
            if not chunks:
                ttft = time.perf_counter() - start
            chunks += chunk.count(b"data: ") if stream else 1
    return Sample(time.perf_counter() - start, ttft, chunks)


async def measure_latency(
    targets: Mapping[str, Sequence[str]], stream: bool, requests: int, max_tokens: int
) -> list[LatencyResult]:
    """One request at a time, alternating between targets so that machine noise hits
    every target alike."""
    cycles = {target: itertools.cycle(urls) for target, urls in targets.items()}
    samples: dict[str, list[Sample]] = {target: [] for target in targets}
    clients = {target: session(1) for target in targets}
    try:
        for n in range(min(100, requests) + requests):
            for target, client in clients.items():
                body = chat_body(stream, max_tokens, n)
                sample = await one_request(client, next(cycles[target]), body, stream)
                if n >= min(100, requests):  # the first ones warm connections and caches
                    samples[target].append(sample)
    finally:
        for client in clients.values():
            await client.close()
    return [
        LatencyResult(
            target=target,
            stream=stream,
            max_tokens=max_tokens,
            latency_ms=Summary.of([s.latency * 1000 for s in runs]),
            ttft_ms=Summary.of([s.ttft * 1000 for s in runs]),
            chunks_per_request=sum(s.chunks for s in runs) / len(runs),
        )
        for target, runs in samples.items()
    ]


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
    async with session(concurrency) as client:
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


def _mode(stream: bool) -> str:
    return "stream" if stream else "non-stream"


def added_latency_lines(latency: Sequence[LatencyResult]) -> list[str]:
    """Gateway minus direct, per mode; the per-chunk cost is the slope between two
    stream lengths, so the fixed per-request cost does not inflate it."""
    by_key = {(r.target, r.stream, r.max_tokens): r for r in latency}
    lines: list[str] = []
    added: dict[tuple[bool, int], float] = {}
    chunks: dict[tuple[bool, int], float] = {}
    for (target, stream, tokens), gateway in sorted(by_key.items()):
        direct = by_key.get(("direct", stream, tokens))
        if target != "gateway" or direct is None:
            continue
        added50 = gateway.latency_ms.p50 - direct.latency_ms.p50
        added99 = gateway.latency_ms.p99 - direct.latency_ms.p99
        added[(stream, tokens)] = added50
        chunks[(stream, tokens)] = gateway.chunks_per_request
        lines.append(
            f"added latency ({_mode(stream)}, {tokens} tokens): "
            f"p50 {added50:+.2f} ms, p99 {added99:+.2f} ms"
        )
    streams = sorted(tokens for stream, tokens in added if stream)
    if len(streams) >= 2:
        short, long = (True, streams[0]), (True, streams[-1])
        slope = (added[long] - added[short]) / max(chunks[long] - chunks[short], 1)
        lines.append(
            f"added per streamed chunk (slope {streams[0]}→{streams[-1]}): {slope * 1000:.0f} µs"
        )
    return lines


def format_report(latency: Sequence[LatencyResult], throughput: Sequence[ThroughputResult]) -> str:
    lines = [
        "| target | mode | max_tokens | p50 ms | p99 ms | TTFT p50 ms | chunks/req |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in latency:
        lines.append(
            f"| {r.target} | {_mode(r.stream)} | {r.max_tokens} | {r.latency_ms.p50:.2f} "
            f"| {r.latency_ms.p99:.2f} | {r.ttft_ms.p50:.2f} | {r.chunks_per_request:.0f} |"
        )
    lines += ["", *added_latency_lines(latency), ""]
    lines += [
        "| target | mode | concurrency | requests | rps | gateway CPU ms/req | client CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in throughput:
        cpu = f"{t.gateway_cpu_ms_per_request:.2f}" if t.gateway_cpu_ms_per_request else "-"
        lines.append(
            f"| {t.target} | {_mode(t.stream)} | {t.concurrency} | {t.requests} | {t.rps:.0f} "
            f"| {cpu} | {t.client_cpu_s:.1f} |"
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
    runs = [(False, args.max_tokens), (True, args.max_tokens), (True, args.long_tokens)]
    urls_by_target = {target: urls for target, (urls, _) in targets.items()}
    for stream, tokens in runs:
        latency += await measure_latency(urls_by_target, stream, args.requests, tokens)
    for stream in (False, True):
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

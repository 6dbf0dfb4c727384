"""A router's own cost: added latency and requests per second against `instant` engines.

Same engines, same client, same requests, once per router in `--routers` (the registry in
`routers.py`: `direct` is the client round-robining over the engines, then `kvgate` and any
installed peer, each one process started and made ready as in `kvgate-bench run`; a peer that
is not installed is reported as skipped). Latency is measured one request at a time (no
queueing anywhere), alternating between the routers per request so that machine noise hits
each alike; throughput with a closed loop of concurrent clients, one router at a time, with
the router's CPU (its process and descendants, from /proc) per request. The engines use the
`instant` profile (zero step time), so the difference from `direct` is the router.

sglang-router never sets TCP_NODELAY: on a reused connection a streamed response can wait
~40 ms for a delayed ACK, so its streamed latency (the p99 above all) shows that, not routing
work; the report marks it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from loadtests.bench import peers
from loadtests.bench.routers import Engines, RouterSettings, Target, create, start
from loadtests.bench.stats import Summary
from loadtests.fleet import Fleet, ProcessStartError

MODEL = "Qwen/Qwen2.5-7B-Instruct"
DEFAULT_ROUTERS = "direct,kvgate"
STREAM_CAVEATS = {
    "sglang-router": "never sets TCP_NODELAY: a streamed response can wait ~40 ms for a "
    "delayed ACK, which shows in its stream p99, not as routing work",
}


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


@dataclass(frozen=True)
class Skipped:
    target: str
    reason: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--routers",
        default=DEFAULT_ROUTERS,
        help="comma-separated router specs (as in `run`); `direct` is the baseline",
    )
    parser.add_argument("--engines", type=int, default=2)
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests per run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="throughput run seconds")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument(
        "--long-tokens", type=int, default=128, help="stream length for the per-chunk cost"
    )
    parser.add_argument(
        "--gateway-arg", action="append", default=[], help="extra `kvgate serve` argument"
    )
    parser.add_argument(
        "--peers-dir", type=Path, default=peers.DEFAULT_ROOT, help="where peers are installed"
    )
    parser.add_argument("--start-timeout", type=float, default=90.0, help="router start, s")
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


async def one_request(
    client: aiohttp.ClientSession,
    url: str,
    body: bytes,
    stream: bool,
    headers: Mapping[str, str] = HEADERS,
) -> Sample:
    begin = time.perf_counter()
    ttft = 0.0
    chunks = 0
    async with client.post(url, data=body, headers=headers) as response:
        if response.status != 200:
            text = await response.text()
            raise RuntimeError(f"{url}: HTTP {response.status}: {text[:200]}")
        async for chunk in response.content.iter_any():
            if not chunks:
                ttft = time.perf_counter() - begin
            chunks += chunk.count(b"data: ") if stream else 1
    return Sample(time.perf_counter() - begin, ttft, chunks)


def chat_urls(target: Target) -> list[str]:
    return [f"{url}/v1/chat/completions" for url in target.urls]


def request_headers(target: Target) -> dict[str, str]:
    return {**HEADERS, **target.headers}


async def measure_latency(
    targets: Mapping[str, Target], stream: bool, requests: int, max_tokens: int
) -> list[LatencyResult]:
    """One request at a time, alternating between targets so that machine noise hits
    every target alike."""
    cycles = {name: itertools.cycle(chat_urls(target)) for name, target in targets.items()}
    headers = {name: request_headers(target) for name, target in targets.items()}
    samples: dict[str, list[Sample]] = {target: [] for target in targets}
    clients = {target: session(1) for target in targets}
    try:
        for n in range(min(100, requests) + requests):
            for target, client in clients.items():
                body = chat_body(stream, max_tokens, n)
                url = next(cycles[target])
                sample = await one_request(client, url, body, stream, headers[target])
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
    router: Target,
    target: str,
    stream: bool,
    concurrency: int,
    duration: float,
    max_tokens: int,
) -> ThroughputResult:
    cycle = itertools.cycle(chat_urls(router))
    headers = request_headers(router)
    done = 0
    async with session(concurrency) as client:
        deadline = time.perf_counter() + duration

        async def worker(worker_id: int) -> None:
            nonlocal done
            n = worker_id * 1_000_000
            while time.perf_counter() < deadline:
                body = chat_body(stream, max_tokens, n)
                await one_request(client, next(cycle), body, stream, headers)
                done += 1
                n += 1

        cpu_gateway = router.cpu_seconds()
        cpu_client = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        seconds = time.perf_counter() - start
        client_cpu = time.process_time() - cpu_client
        cpu_after = router.cpu_seconds()
        gateway_cpu = (
            cpu_after - cpu_gateway if cpu_after is not None and cpu_gateway is not None else None
        )
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


def _ms(value: float) -> str:
    return f"{value:+.2f}"


def added_latency_lines(latency: Sequence[LatencyResult], baseline: str = "direct") -> list[str]:
    """Each router minus `baseline`, per mode; the per-chunk cost is the slope between two
    stream lengths, so the fixed per-request cost does not inflate it."""
    by_key = {(r.target, r.stream, r.max_tokens): r for r in latency}
    targets = list(dict.fromkeys(r.target for r in latency if r.target != baseline))
    lines: list[str] = []
    for target in targets:
        added: dict[tuple[bool, int], float] = {}
        chunks: dict[tuple[bool, int], float] = {}
        for stream, tokens in sorted({(s, t) for (name, s, t) in by_key if name == target}):
            routed, direct = (
                by_key[(target, stream, tokens)],
                by_key.get((baseline, stream, tokens)),
            )
            if direct is None:
                continue
            added50 = routed.latency_ms.p50 - direct.latency_ms.p50
            added99 = routed.latency_ms.p99 - direct.latency_ms.p99
            added[(stream, tokens)] = added50
            chunks[(stream, tokens)] = routed.chunks_per_request
            lines.append(
                f"{target}: added latency ({_mode(stream)}, {tokens} tokens): "
                f"p50 {_ms(added50)} ms, p99 {_ms(added99)} ms"
            )
        streams = sorted(tokens for stream, tokens in added if stream)
        if len(streams) >= 2:
            short, long = (True, streams[0]), (True, streams[-1])
            slope = (added[long] - added[short]) / max(chunks[long] - chunks[short], 1)
            lines.append(
                f"{target}: added per streamed chunk (slope {streams[0]}→{streams[-1]}): "
                f"{slope * 1000:.0f} µs"
            )
    return lines


def summary_table(
    latency: Sequence[LatencyResult],
    throughput: Sequence[ThroughputResult],
    max_tokens: int,
    baseline: str = "direct",
) -> list[str]:
    """One row per router: added p50/p99 (non-stream and stream at `max_tokens`), requests
    per second and CPU ms per request of its process (non-stream / stream)."""
    by_key = {(r.target, r.stream, r.max_tokens): r for r in latency}
    rates = {(t.target, t.stream): t for t in throughput}
    targets = list(dict.fromkeys([*(r.target for r in latency), *(t.target for t in throughput)]))
    lines = [
        "| router | added p50 / p99 ms, non-stream | added p50 / p99 ms, stream "
        "| rps, non-stream / stream | CPU ms/req, non-stream / stream |",
        "|---|---|---|---|---|",
    ]
    for target in targets:
        cells = [target + (" †" if target in STREAM_CAVEATS else "")]
        for stream in (False, True):
            routed = by_key.get((target, stream, max_tokens))
            direct = by_key.get((baseline, stream, max_tokens))
            if target == baseline or routed is None or direct is None:
                cells.append("–" if target != baseline else "(baseline)")
                continue
            added50 = routed.latency_ms.p50 - direct.latency_ms.p50
            added99 = routed.latency_ms.p99 - direct.latency_ms.p99
            cells.append(f"{_ms(added50)} / {_ms(added99)}")
        rps = [rates.get((target, stream)) for stream in (False, True)]
        cells.append(" / ".join(f"{t.rps:.0f}" if t else "–" for t in rps))
        cells.append(
            " / ".join(
                f"{t.gateway_cpu_ms_per_request:.2f}"
                if t and t.gateway_cpu_ms_per_request is not None
                else "–"
                for t in rps
            )
        )
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"† {name} {why}." for name, why in STREAM_CAVEATS.items() if name in targets]
    return lines + (["", *notes] if notes else [])


def format_report(
    latency: Sequence[LatencyResult],
    throughput: Sequence[ThroughputResult],
    skipped: Sequence[Skipped] = (),
    max_tokens: int | None = None,
) -> str:
    lines: list[str] = []
    tokens = (
        max_tokens if max_tokens is not None else min((r.max_tokens for r in latency), default=0)
    )
    if latency or throughput:
        lines += [*summary_table(latency, throughput, tokens), ""]
    lines += [
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
        "| target | mode | concurrency | requests | rps | router CPU ms/req | client CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in throughput:
        cpu = f"{t.gateway_cpu_ms_per_request:.2f}" if t.gateway_cpu_ms_per_request else "-"
        lines.append(
            f"| {t.target} | {_mode(t.stream)} | {t.concurrency} | {t.requests} | {t.rps:.0f} "
            f"| {cpu} | {t.client_cpu_s:.1f} |"
        )
    if skipped:
        lines += ["", *(f"skipped {s.target}: {s.reason}" for s in skipped)]
    return "\n".join(lines)


def start_routers(
    args: argparse.Namespace, fleet: Fleet, engines: Engines, workdir: Path
) -> tuple[dict[str, Target], list[Skipped]]:
    """Every router in `--routers` that is installed and starts; the rest as skipped."""
    settings = RouterSettings(
        peers_root=args.peers_dir, extra_args={"kvgate": tuple(args.gateway_arg)}
    )
    targets: dict[str, Target] = {}
    skipped: list[Skipped] = []
    for spec in (s.strip() for s in args.routers.split(",") if s.strip()):
        router = create(spec, settings)
        reason = router.unavailable()
        if reason is None:
            try:
                dirname = router.spec.replace(":", "-")
                targets[router.spec] = start(
                    router, fleet, engines, workdir / dirname, args.start_timeout
                )
                continue
            except (ProcessStartError, OSError, ValueError) as exc:
                reason = f"did not start: {str(exc).splitlines()[0] if str(exc) else exc!r}"
        skipped.append(Skipped(router.spec, reason))
    return targets, skipped


async def run_all(args: argparse.Namespace, fleet: Fleet) -> str:
    sims = [fleet.start_sim(profile="instant", model=MODEL) for _ in range(args.engines)]
    engines = Engines(tuple(s.url for s in sims), MODEL)
    targets, skipped = start_routers(args, fleet, engines, fleet.log_dir)
    latency: list[LatencyResult] = []
    throughput: list[ThroughputResult] = []
    runs = [(False, args.max_tokens), (True, args.max_tokens), (True, args.long_tokens)]
    load_start = os.getloadavg()
    for stream, tokens in runs:
        latency += await measure_latency(targets, stream, args.requests, tokens)
    for stream in (False, True):
        for name, target in targets.items():
            throughput.append(
                await measure_throughput(
                    target, name, stream, args.concurrency, args.duration, args.max_tokens
                )
            )
    report = format_report(latency, throughput, skipped, args.max_tokens)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        machine = {
            "cpus": os.cpu_count(),
            "load_start": load_start,
            "load": os.getloadavg(),
            "python": platform.python_version(),
        }
        versions = {
            spec: create(spec, RouterSettings(peers_root=args.peers_dir)).version()
            for spec in targets
        }
        payload = {
            "machine": machine,
            "args": {k: str(v) for k, v in vars(args).items()},
            "versions": versions,
            "skipped": [asdict(s) for s in skipped],
            "latency": [asdict(r) for r in latency],
            "throughput": [asdict(t) for t in throughput],
            "report": report,
        }
        args.out.write_text(json.dumps(payload, indent=2))
    return report


def run(args: argparse.Namespace) -> int:
    try:
        for spec in args.routers.split(","):
            if spec.strip():
                create(spec, RouterSettings(peers_root=args.peers_dir))
    except ValueError as exc:
        print(f"kvgate-bench overhead: {exc}", file=sys.stderr)
        return 2
    with Fleet() as fleet:
        print(asyncio.run(run_all(args, fleet)))
    return 0

"""`kvgate-bench`: run a local fleet, measure the gateway, compare routers."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from loadtests.bench import loadgen, overhead, up
from loadtests.bench.trace import TraceError, read_trace
from loadtests.workloads import command as gen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvgate-bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up.add_arguments(commands.add_parser("up", help="start simulated engines and a gateway"))
    overhead.add_arguments(
        commands.add_parser("overhead", help="the gateway's added latency and throughput")
    )
    gen.add_arguments(commands.add_parser("gen", help="write a workload's trace (JSON Lines)"))
    add_load_arguments(commands.add_parser("load", help="replay a trace and measure it"))
    return parser


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", type=Path, required=True, help="a JSON Lines trace")
    parser.add_argument(
        "--url", action="append", required=True, help="base URL; repeat to round-robin"
    )
    parser.add_argument("--out", type=Path, default=None, help="write JSON results here")
    parser.add_argument("--time-scale", type=float, default=1.0, help="2 replays twice as fast")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds left out of stats")
    parser.add_argument("--ttft-sla", type=float, default=2.0, help="goodput TTFT bound, s")
    parser.add_argument("--tpot-sla", type=float, default=0.1, help="goodput TPOT bound, s")
    parser.add_argument("--timeout", type=float, default=900.0, help="per request, s")
    parser.add_argument("--max-connections", type=int, default=4096)
    parser.add_argument("--model", default=None, help="replace every body's model")
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--no-requests", action="store_true", help="leave per-request rows out")


def run_load(args: argparse.Namespace) -> int:
    try:
        records = list(read_trace(args.trace))
        config = loadgen.LoadConfig(
            urls=tuple(args.url),
            time_scale=args.time_scale,
            sla=loadgen.Sla(ttft_s=args.ttft_sla, tpot_s=args.tpot_sla),
            warmup_s=args.warmup,
            model=args.model,
            headers=_headers(args.header),
            request_timeout_s=args.timeout,
            max_connections=args.max_connections,
        )
    except (OSError, TraceError, ValueError) as exc:
        print(f"kvgate-bench load: {exc}", file=sys.stderr)
        return 2
    progress = _print_progress if sys.stderr.isatty() else None
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        result = runner.run(loadgen.run_load(records, config, progress))
    if progress is not None:
        print(file=sys.stderr)
    print(loadgen.format_summary(result))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = result.to_json(include_requests=not args.no_requests)
        args.out.write_text(json.dumps(payload, indent=1))
    return 0


def _headers(items: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--header: expected NAME=VALUE, got {item!r}")
        headers[name.strip()] = value.strip()
    return headers


def _print_progress(progress: loadgen.Progress) -> None:
    total = progress.total or 0
    if progress.finished % 50 == 0 or progress.finished == total:
        print(
            f"\r{progress.finished}/{total} done, {progress.sent - progress.finished} in flight, "
            f"{progress.errors} errors, {progress.elapsed_s:.0f} s",
            end="",
            file=sys.stderr,
        )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it is with uvicorn[standard]): less client CPU per request."""
    try:
        import uvloop
    except ModuleNotFoundError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runners = {"up": up.run, "overhead": overhead.run, "gen": gen.run, "load": run_load}
    return runners[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())

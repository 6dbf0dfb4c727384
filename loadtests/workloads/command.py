"""`kvgate-bench gen`: write a workload's trace file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loadtests.bench.trace import write_trace
from loadtests.workloads.interfaces import DEFAULT_MODEL, RunSpec
from loadtests.workloads.params import parse_overrides
from loadtests.workloads.registry import WORKLOADS, describe, generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "workloads and their parameters (defaults):\n" + "\n".join(
        f"  {describe(name)}" for name in WORKLOADS
    )
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, required=True, help="mean requests per second")
    parser.add_argument("--duration", type=float, default=None, help="seconds of arrivals")
    parser.add_argument("--count", type=int, default=None, help="at most this many requests")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the `model` of every body")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="workload parameter"
    )
    parser.add_argument("--out", type=Path, required=True, help="the trace file (JSON Lines)")


def run(args: argparse.Namespace) -> int:
    try:
        spec = RunSpec(
            seed=args.seed,
            rate=args.rate,
            duration=args.duration,
            count=args.count,
            model=args.model,
        )
        records = generate(args.workload, spec, parse_overrides(args.param))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        written = write_trace(args.out, records)
    except ValueError as exc:
        print(f"kvgate-bench gen: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written} requests of {args.workload} to {args.out}")
    return 0

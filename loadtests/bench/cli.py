"""`kvgate-bench`: run a local fleet, measure the gateway, compare routers."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from loadtests.bench import overhead, up


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvgate-bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up.add_arguments(commands.add_parser("up", help="start simulated engines and a gateway"))
    overhead.add_arguments(
        commands.add_parser("overhead", help="the gateway's added latency and throughput")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runners = {"up": up.run, "overhead": overhead.run}
    return runners[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())

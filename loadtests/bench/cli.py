"""`kvgate-bench`: run a local fleet, measure the gateway, compare routers."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from loadtests.bench import loadgen, overhead, peers, routers, runner, up
from loadtests.bench.trace import TraceError, read_trace
from loadtests.workloads import command as gen
from loadtests.workloads.interfaces import DEFAULT_MODEL
from loadtests.workloads.params import parse_overrides
from loadtests.workloads.registry import WORKLOADS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvgate-bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up.add_arguments(commands.add_parser("up", help="start simulated engines and a gateway"))
    overhead.add_arguments(
        commands.add_parser("overhead", help="the gateway's added latency and throughput")
    )
    gen.add_arguments(commands.add_parser("gen", help="write a workload's trace (JSON Lines)"))
    add_load_arguments(commands.add_parser("load", help="replay a trace and measure it"))
    add_run_arguments(commands.add_parser("run", help="compare routers on fresh engines"))
    add_report_arguments(commands.add_parser("report", help="Markdown and PNG plots of a run"))
    add_peers_arguments(commands.add_parser("peers", help="install or list the peer routers"))
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


# --- run, report, peers -------------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    full, quick = runner.FULL, runner.QUICK
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "routers (name[:variant]):\n  "
        + routers.describe().replace("\n", "\n  ")
        + f"\n\ndefaults: {_preset_text(full)}\n--quick:  {_preset_text(quick)}"
        "\n\nRates, --duration and --warmup are in engine time; with --time-scale S the "
        "engines run S times faster and the trace is replayed S times faster, and results "
        "are reported in engine time (what a router itself adds counts S times)."
    )
    add = parser.add_argument
    add("--workload", default="shared-prefix", choices=sorted(WORKLOADS))
    add("--routers", default=None, help="comma-separated router specs")
    add("--engines", type=int, default=None, help="simulated engines per point")
    add("--rates", default=None, help="comma-separated offered loads, requests/s")
    add("--duration", type=float, default=None, help="seconds of arrivals per point")
    add("--warmup", type=float, default=None, help="seconds left out of the statistics")
    add("--time-scale", type=float, default=None, help="engine seconds per wall second")
    add("--profile", default="h100-llama3-8b", help="kvgate-sim hardware profile")
    add("--sim-arg", action="append", default=[], metavar="ARG", help="extra kvgate-sim arg")
    add("--seed", type=int, default=0)
    add("--model", default=DEFAULT_MODEL, help="served model name")
    add("--param", action="append", default=[], metavar="KEY=VALUE", help="workload parameter")
    add("--ttft-sla", type=float, default=2.0, help="goodput TTFT bound, s (engine time)")
    add("--tpot-sla", type=float, default=0.1, help="goodput TPOT bound, s (engine time)")
    add("--sample-interval", type=float, default=None, help="engine /metrics scrapes, wall s")
    add("--start-timeout", type=float, default=120.0, help="engine and router start, s")
    add("--request-timeout", type=float, default=300.0, help="per request, wall s")
    add("--kvgate-variants", type=Path, default=None, metavar="FILE", help="JSON/YAML table")
    add(
        "--kvgate-variant",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="kvgate:NAME runs `kvgate serve ARGS`",
    )
    add(
        "--router-arg",
        action="append",
        default=[],
        metavar="SPEC=ARGS",
        help="extra arguments for one router spec, e.g. smg=--cache-threshold 0.5",
    )
    add("--peers-dir", type=Path, default=peers.DEFAULT_ROOT, help="where peers are installed")
    add("--out", type=Path, required=True, help="results directory")
    add("--quick", action="store_true", help="a small, short smoke run (see below)")
    add("--no-report", action="store_true", help="leave out the Markdown and the plots")


def _preset_text(preset: runner.Preset) -> str:
    rates = ",".join(f"{r:g}" for r in preset.rates)
    return (
        f"--routers {','.join(preset.routers)} --engines {preset.engines} --rates {rates} "
        f"--duration {preset.duration_s:g} --warmup {preset.warmup_s:g} "
        f"--time-scale {preset.time_scale:g}" + (" and small prompts" if preset.params else "")
    )


def run_config(args: argparse.Namespace) -> runner.RunConfig:
    """The run's configuration from the arguments; ValueError or OSError when invalid."""
    preset = runner.QUICK if args.quick else runner.FULL
    variants = dict(routers.DEFAULT_KVGATE_VARIANTS)
    if args.kvgate_variants is not None:
        variants.update(routers.load_variants(args.kvgate_variants))
    variants.update(routers.parse_variant(item) for item in args.kvgate_variant)
    settings = routers.RouterSettings(
        peers_root=args.peers_dir,
        kvgate_variants=variants,
        extra_args=_router_args(args.router_arg),
    )
    params = {**preset.params.get(args.workload, {}), **parse_overrides(args.param)}
    return runner.RunConfig(
        workload=args.workload,
        routers=_split(args.routers) if args.routers else preset.routers,
        rates=tuple(float(r) for r in _split(args.rates)) if args.rates else preset.rates,
        out=args.out,
        engines=preset.engines if args.engines is None else args.engines,
        duration_s=_pick(args.duration, preset.duration_s),
        warmup_s=_pick(args.warmup, preset.warmup_s),
        seed=args.seed,
        params=params,
        profile=args.profile,
        time_scale=_pick(args.time_scale, preset.time_scale),
        sim_args=tuple(args.sim_arg),
        model=args.model,
        sla=loadgen.Sla(ttft_s=args.ttft_sla, tpot_s=args.tpot_sla),
        sample_interval_s=_pick(args.sample_interval, preset.sample_interval_s),
        start_timeout_s=args.start_timeout,
        request_timeout_s=args.request_timeout,
        router_settings=settings,
    )


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value


def _split(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _router_args(items: Sequence[str]) -> dict[str, tuple[str, ...]]:
    extra: dict[str, tuple[str, ...]] = {}
    for item in items:
        spec, sep, args = item.partition("=")
        if not sep or not spec.strip():
            raise ValueError(f"--router-arg: expected SPEC=ARGS, got {item!r}")
        extra[spec.strip()] = (*extra.get(spec.strip(), ()), *shlex.split(args))
    return extra


def run_compare(args: argparse.Namespace) -> int:
    try:
        config = run_config(args)
        for spec in config.routers:
            routers.create(spec, config.router_settings)
    except (OSError, ValueError) as exc:
        print(f"kvgate-bench run: {exc}", file=sys.stderr)
        return 2
    document = runner.run(config, runner.ConsoleProgress(), _loop_factory())
    print(f"results: {config.out / runner.RESULTS_FILE}")
    if not args.no_report:
        from loadtests.bench import report  # matplotlib: the optional `bench` extra

        markdown, plots = report.write(config.out)
        print(f"report: {markdown} ({len(plots)} plots)")
    points = document["points"]
    ok = isinstance(points, list) and any(p.get("status") == "ok" for p in points)
    return 0 if ok else 1


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="a run's directory or its results.json")
    parser.add_argument("--out", type=Path, default=None, help="write here (default: beside)")


def run_report(args: argparse.Namespace) -> int:
    from loadtests.bench import report  # matplotlib: the optional `bench` extra

    try:
        markdown, plots = report.write(args.results, args.out)
    except report.ReportError as exc:
        print(f"kvgate-bench report: {exc}", file=sys.stderr)
        return 2
    print(markdown.read_text())
    print(f"written: {markdown}, " + ", ".join(str(p) for p in plots))
    return 0


def add_peers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["install", "list"])
    parser.add_argument("names", nargs="*", help=f"default: all of {', '.join(peers.PEERS)}")
    parser.add_argument("--dir", type=Path, default=peers.DEFAULT_ROOT, help="peers' home")
    parser.add_argument("--python", default="python3", help="creates the venvs")


def run_peers(args: argparse.Namespace) -> int:
    try:
        chosen = peers.select(args.names)
    except ValueError as exc:
        print(f"kvgate-bench peers: {exc}", file=sys.stderr)
        return 2
    missing = 0
    for peer in chosen:
        if args.action == "install":
            print(f"installing {peer.name} ({peer.requirement}) into {args.dir / peer.name}…")
            result = peers.install(peer, args.dir, args.python)
            version, error = result.version, result.error
        else:
            version = peers.installed_version(peer, args.dir)
            error = None if version else "not installed"
        missing += version is None
        print(f"{peer.name} {version}" if version else f"{peer.name}: {_indent(error)}")
    return 1 if missing and args.action == "install" else 0


def _indent(text: str | None) -> str:
    return (text or "").replace("\n", "\n  ")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runners = {
        "up": up.run,
        "overhead": overhead.run,
        "gen": gen.run,
        "load": run_load,
        "run": run_compare,
        "report": run_report,
        "peers": run_peers,
    }
    return runners[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())

"""`kvgate-bench run`: routers compared on the same engines and the same traffic.

For each offered rate the workload's trace is generated once (seeded) and replayed through
every router in turn; the order rotates from one rate to the next so that drift during a
long run does not favour one router. Each (rate, router) point gets N fresh `kvgate-sim`
engines (cold caches) and a fresh router process, bound to 127.0.0.1 and stopped afterwards
(`Fleet`). During the replay the engines' `/metrics` are sampled (`engine_metrics`); the
router's CPU time is read from /proc before and after. A router that is not installed is
recorded as skipped, one that does not start as failed, each with the reason.

Time: the engines run `time_scale` times faster than real time (`kvgate-sim
--time-scale`) and the trace is replayed as much faster, so the engines see the nominal rate
in their own time. Every latency and throughput in the results is in engine time (wall
time × `time_scale`), comparable between time scales, except that what the router and the
client add is scaled up too: at `time_scale` 10 a router's 1 ms weighs like 10 ms.
`duration_s` and `warmup_s` are engine (trace) seconds.

Results go to `<out>/results.json` after every point (a partial run is still readable);
process logs and generated configs go to `<out>/logs/<point>/`.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Protocol, TextIO

from loadtests.bench import loadgen
from loadtests.bench.engine_metrics import EngineSampler, Snapshot, summarize
from loadtests.bench.loadgen import LoadConfig, LoadResult, LoadSummary, Sla
from loadtests.bench.procstat import cpu_seconds
from loadtests.bench.routers import Engines, Router, RouterSettings, Target, create, start
from loadtests.bench.stats import Summary
from loadtests.bench.trace import JSONObject, TraceRecord
from loadtests.fleet import HOST, Fleet, ManagedProcess, ProcessStartError, free_port
from loadtests.workloads.interfaces import DEFAULT_MODEL, RunSpec
from loadtests.workloads.registry import generate

RESULTS_FILE = "results.json"
RESULTS_KIND = "kvgate-bench-run"

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


@dataclass(frozen=True)
class RunConfig:
    """One comparison. Rates in requests per engine-second; `duration_s`, `warmup_s` in
    engine seconds; `sample_interval_s`, `request_timeout_s`, `start_timeout_s` in wall
    seconds."""

    workload: str
    routers: tuple[str, ...]
    rates: tuple[float, ...]
    out: Path
    engines: int = 4
    duration_s: float = 60.0
    warmup_s: float = 10.0
    seed: int = 0
    params: Mapping[str, str] = field(default_factory=dict)
    profile: str = "h100-llama3-8b"
    time_scale: float = 1.0
    sim_args: tuple[str, ...] = ()
    model: str = DEFAULT_MODEL
    sla: Sla = field(default_factory=Sla)
    sample_interval_s: float = 1.0
    start_timeout_s: float = 120.0
    request_timeout_s: float = 300.0
    router_settings: RouterSettings = field(default_factory=RouterSettings)

    def __post_init__(self) -> None:
        if not self.routers or not self.rates:
            raise ValueError("at least one router and one rate are needed")
        if self.engines < 1:
            raise ValueError(f"engines must be ≥ 1, got {self.engines}")
        if not self.time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {self.time_scale}")
        if not 0 <= self.warmup_s < self.duration_s:
            raise ValueError("need 0 ≤ warmup < duration")

    def to_json(self) -> JSONObject:
        return {
            "workload": self.workload,
            "params": dict(self.params),
            "routers": list(self.routers),
            "rates": list(self.rates),
            "engines": self.engines,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "seed": self.seed,
            "profile": self.profile,
            "time_scale": self.time_scale,
            "sim_args": list(self.sim_args),
            "model": self.model,
            "sla": asdict(self.sla),
            "sample_interval_s": self.sample_interval_s,
            "kvgate_variants": {
                name or "kvgate": {"args": list(v.args), "kv_events": v.kv_events}
                for name, v in self.router_settings.kvgate_variants.items()
            },
            "extra_args": {k: list(v) for k, v in self.router_settings.extra_args.items()},
        }


class RunProgress(Protocol):
    """Told about each point and, during a point, about requests finishing."""

    def point_started(self, index: int, total: int, label: str) -> None: ...

    def requests(self, progress: loadgen.Progress) -> None: ...

    def point_finished(self, point: Mapping[str, object]) -> None: ...


def run(
    config: RunConfig, progress: RunProgress | None = None, loop_factory: LoopFactory | None = None
) -> JSONObject:
    """Every point of `config`; returns (and keeps writing) the results document."""
    routers = [create(spec, config.router_settings) for spec in config.routers]
    config.out.mkdir(parents=True, exist_ok=True)
    points: list[JSONObject] = []
    document: JSONObject = {
        "kind": RESULTS_KIND,
        "config": config.to_json(),
        "machine": machine(),
        "versions": versions(routers),
        "points": points,
    }
    total = len(config.rates) * len(routers)
    for rate_index, rate in enumerate(config.rates):
        records = trace(config, rate)
        for router in rotated(routers, rate_index):
            label = f"{config.workload} @ {rate:g}/s · {router.spec}"
            if progress is not None:
                progress.point_started(len(points) + 1, total, label)
            point = run_point(config, router, rate, records, progress, loop_factory)
            points.append(point)
            write_results(config.out, document)
            if progress is not None:
                progress.point_finished(point)
    return document


def trace(config: RunConfig, rate: float) -> list[TraceRecord]:
    spec = RunSpec(seed=config.seed, rate=rate, duration=config.duration_s, model=config.model)
    return list(generate(config.workload, spec, config.params))


def rotated(routers: Sequence[Router], shift: int) -> list[Router]:
    """`routers` rotated left by `shift`: each rate starts with a different router."""
    if not routers:
        return []
    k = shift % len(routers)
    return [*routers[k:], *routers[:k]]


def write_results(out: Path, document: JSONObject) -> Path:
    path = out / RESULTS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1))
    tmp.replace(path)
    return path


def run_point(
    config: RunConfig,
    router: Router,
    rate: float,
    records: Sequence[TraceRecord],
    progress: RunProgress | None = None,
    loop_factory: LoopFactory | None = None,
) -> JSONObject:
    """One (rate, router) point on fresh engines; never raises for a router's failure."""
    point: JSONObject = {
        "workload": config.workload,
        "rate": rate,
        "router": router.spec,
        "version": router.version(),
        "notes": router.notes,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average": list(os.getloadavg()),
    }
    reason = router.unavailable()
    if reason is not None:
        return {**point, "status": "skipped", "reason": reason}
    point_dir = config.out / "logs" / f"{config.workload}-r{rate:g}-{router.spec.replace(':', '-')}"
    point_dir.mkdir(parents=True, exist_ok=True)
    with Fleet(log_dir=point_dir) as fleet:
        try:
            sims, engines = start_engines(fleet, config, router.kv_events)
            target = start(router, fleet, engines, point_dir, config.start_timeout_s)
        except (ProcessStartError, OSError, ValueError) as exc:
            return {**point, "status": "failed", "reason": _first_lines(str(exc))}
        measured = _measure(config, target, sims, engines, records, progress, loop_factory)
        exit_code = None if target.process is None else target.process.popen.poll()
    if exit_code is not None:
        measured["notes"] = f"{router.notes}; router exited with {exit_code} during the run"
    return {**point, "status": "ok", "reason": None, **measured}


def start_engines(
    fleet: Fleet, config: RunConfig, kv_events: bool
) -> tuple[list[ManagedProcess], Engines]:
    """N simulators started together, then waited for (`/health`)."""
    sims: list[ManagedProcess] = []
    endpoints: list[str] = []
    for index in range(config.engines):
        port = free_port()
        args = [sys.executable, "-m", "loadtests.sim", "--host", HOST, "--port", str(port)]
        args += ["--profile", config.profile, "--served-model-name", config.model]
        args += ["--time-scale", f"{config.time_scale:g}", *config.sim_args]
        if kv_events:
            endpoints.append(f"tcp://{HOST}:{free_port()}")
            args += ["--kv-events-config", _kv_events_config(endpoints[-1])]
        sims.append(fleet.spawn(f"engine-{index}", args, port))
    for sim in sims:
        sim.wait_ready("/health", config.start_timeout_s)
    return sims, Engines(tuple(s.url for s in sims), config.model, tuple(endpoints))


def _kv_events_config(endpoint: str) -> str:
    port = endpoint.rsplit(":", 1)[1]
    return json.dumps(
        {
            "enable_kv_cache_events": True,
            "publisher": "zmq",
            "endpoint": f"tcp://*:{port}",
            "topic": "kv-events",
        }
    )


def _measure(
    config: RunConfig,
    target: Target,
    sims: Sequence[ManagedProcess],
    engines: Engines,
    records: Sequence[TraceRecord],
    progress: RunProgress | None,
    loop_factory: LoopFactory | None,
) -> JSONObject:
    scale = config.time_scale
    load_config = LoadConfig(
        urls=target.urls,
        time_scale=scale,
        sla=Sla(ttft_s=config.sla.ttft_s / scale, tpot_s=config.sla.tpot_s / scale),
        warmup_s=config.warmup_s / scale,
        headers=target.headers,
        request_timeout_s=config.request_timeout_s,
        read_timeout_s=config.request_timeout_s,
    )
    router_cpu = target.cpu_seconds()
    sims_cpu = sum(cpu_seconds(s.popen.pid) for s in sims)
    callback = progress.requests if progress is not None else None
    with asyncio.Runner(loop_factory=loop_factory) as loop:
        result, snapshots = loop.run(
            _replay(records, load_config, engines, config.sample_interval_s, callback)
        )
    router_cpu_after = target.cpu_seconds()
    sims_cpu = sum(cpu_seconds(s.popen.pid) for s in sims) - sims_cpu
    used = None if router_cpu is None or router_cpu_after is None else router_cpu_after - router_cpu
    return _measurement(config, result, snapshots, used, sims_cpu)


async def _replay(
    records: Sequence[TraceRecord],
    config: LoadConfig,
    engines: Engines,
    interval_s: float,
    callback: loadgen.ProgressCallback | None,
) -> tuple[LoadResult, list[Snapshot]]:
    async with EngineSampler(engines.urls, interval_s) as sampler:
        result = await loadgen.run_load(records, config, callback)
    return result, sampler.snapshots


def _measurement(
    config: RunConfig,
    result: LoadResult,
    snapshots: Sequence[Snapshot],
    router_cpu_s: float | None,
    engines_cpu_s: float,
) -> JSONObject:
    scale = config.time_scale
    scaled = replace(
        result,
        sla=config.sla,
        summary=to_engine_time(result.summary, scale),
        by_tag={tag: to_engine_time(s, scale) for tag, s in result.by_tag.items()},
        requests=(),
    )
    measured = [r for r in result.requests if not r.warmup]
    ttft_s = [r.ttft_s for r in measured if r.ok and r.ttft_s is not None]
    ttft = sorted(round(t * 1000 * scale, 3) for t in ttft_s)
    errors = [f"{r.error}: {r.detail}" for r in measured if r.error is not None]
    sent = len(result.requests)
    per_request = router_cpu_s * 1000 / sent if router_cpu_s is not None and sent else None
    return {
        "requests_sent": sent,
        "load": scaled.to_json(include_requests=False),
        "client_lateness_ms_wall": asdict(result.summary.lateness_ms),
        "ttft_ms": ttft,
        "errors_sample": errors[:5],
        "engines": summarize(snapshots, scale).to_json(),
        "router_cpu_s": router_cpu_s,
        "router_cpu_ms_per_request": per_request,
        "engines_cpu_s": engines_cpu_s,
    }


def to_engine_time(summary: LoadSummary, scale: float) -> LoadSummary:
    """Latencies × `scale`, rates ÷ `scale`: wall time → the engines' time."""

    def times(s: Summary) -> Summary:
        return Summary(s.count, s.mean * scale, s.p50 * scale, s.p90 * scale, s.p99 * scale)

    return replace(
        summary,
        duration_s=summary.duration_s * scale,
        request_throughput=summary.request_throughput / scale,
        output_token_throughput=summary.output_token_throughput / scale,
        goodput=summary.goodput / scale,
        ttft_ms=times(summary.ttft_ms),
        tpot_ms=times(summary.tpot_ms),
        itl_ms=times(summary.itl_ms),
        e2e_ms=times(summary.e2e_ms),
        lateness_ms=times(summary.lateness_ms),
    )


def _first_lines(text: str, lines: int = 12) -> str:
    return "\n".join(text.splitlines()[:lines])


# --- the machine and the versions ---------------------------------------------------------


def machine() -> JSONObject:
    """Cores, load, CPU model and Python: recorded next to the numbers."""
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "load_average": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "memory_gib": _memory_gib(),
    }


def versions(routers: Sequence[Router]) -> JSONObject:
    found: JSONObject = {
        name: _version(name) for name in ("kvgate", "aiohttp", "uvloop", "matplotlib")
    }
    found.update({router.spec: router.version() for router in routers})
    return found


def _version(distribution: str) -> str | None:
    try:
        return package_version(distribution)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None
    return round(pages * size / 2**30, 1)


# --- console progress ---------------------------------------------------------------------


class ConsoleProgress:
    """A one-line progress bar per point (redrawn in place on a terminal), then a result line."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 24) -> None:
        self._stream = stream
        self._width = width
        self._tty = stream.isatty()
        self._prefix = ""
        self._last = -1.0

    def point_started(self, index: int, total: int, label: str) -> None:
        self._prefix = f"[{index}/{total}] {label}"
        self._last = 0.0
        self._write(f"{self._prefix} starting…", final=not self._tty)

    def requests(self, progress: loadgen.Progress) -> None:
        # A terminal is redrawn five times a second; a log file gets a line every 15 s.
        if progress.elapsed_s - self._last < (0.2 if self._tty else 15.0):
            return
        self._last = progress.elapsed_s
        total = progress.total or max(progress.sent, 1)
        filled = round(self._width * progress.finished / total)
        bar = "#" * filled + "." * (self._width - filled)
        self._write(
            f"{self._prefix} [{bar}] {progress.finished}/{total}, "
            f"{progress.sent - progress.finished} in flight, {progress.errors} errors, "
            f"{progress.elapsed_s:.0f} s",
            final=not self._tty,
        )

    def point_finished(self, point: Mapping[str, object]) -> None:
        self._write(f"{self._prefix}: {point_line(point)}", final=True)

    def _write(self, text: str, final: bool) -> None:
        if self._tty:
            self._stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        elif final:
            self._stream.write(text + "\n")
        self._stream.flush()


def point_line(point: Mapping[str, object]) -> str:
    """One line for a finished point: its status, or goodput, p99 TTFT and hit rate."""
    if point.get("status") != "ok":
        reason = str(point.get("reason", "")).splitlines()
        return f"{point.get('status')}: {reason[0] if reason else ''}"
    load = point.get("load")
    engines = point.get("engines")
    summary = load.get("summary") if isinstance(load, dict) else None
    if not isinstance(summary, dict) or not isinstance(engines, dict):
        return "ok"
    ttft = summary.get("ttft_ms")
    p99 = ttft.get("p99") if isinstance(ttft, dict) else None
    hit = engines.get("prefix_hit_rate")
    return (
        f"ok, {summary.get('ok')}/{summary.get('requests')} ok, goodput "
        f"{_fmt(summary.get('goodput'))}/s, TTFT p99 {_fmt(p99, 0)} ms, "
        f"hit rate {_fmt(hit if not isinstance(hit, float) else hit * 100, 0)}%"
    )


def _fmt(value: object, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


# --- presets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """Defaults of `kvgate-bench run`; `--quick` is a few-minute smoke run for CI."""

    routers: tuple[str, ...]
    engines: int
    rates: tuple[float, ...]
    duration_s: float
    warmup_s: float
    time_scale: float
    sample_interval_s: float
    params: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


FULL = Preset(
    routers=("direct", "kvgate"),
    engines=4,
    rates=(2.0, 4.0, 8.0),
    duration_s=60.0,
    warmup_s=10.0,
    time_scale=1.0,
    sample_interval_s=1.0,
)

_SMALL_OUTPUT = {"output_min": "8", "output_max": "16"}

QUICK = Preset(
    routers=("direct", "kvgate"),
    engines=2,
    rates=(2.0, 4.0),
    duration_s=20.0,
    warmup_s=2.0,
    time_scale=5.0,
    sample_interval_s=0.25,
    params={
        "shared-prefix": {
            "groups": "20",
            "questions": "4",
            "prefix_tokens": "1024",
            "question_tokens": "64",
            **_SMALL_OUTPUT,
        },
        "multi-turn": {
            "sessions": "8",
            "turns": "3",
            "system_tokens": "256",
            "user_min": "16",
            "user_max": "64",
            "think_time": "1",
            **_SMALL_OUTPUT,
        },
        "mixed": {
            "chat_min": "16",
            "chat_max": "64",
            "chat_output_min": "8",
            "chat_output_max": "16",
            "documents": "4",
            "doc_min": "512",
            "doc_max": "2048",
            "question_min": "16",
            "question_max": "64",
            "long_output_min": "8",
            "long_output_max": "16",
            "batch_min": "256",
            "batch_max": "512",
            "batch_output_min": "8",
            "batch_output_max": "16",
        },
        "no-reuse": {"prompt_min": "32", "prompt_max": "256", **_SMALL_OUTPUT},
        "overhead": {"prompt_tokens": "16", "output_tokens": "8"},
    },
)

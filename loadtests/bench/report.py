"""`kvgate-bench report`: a run's results.json → a Markdown report and PNG plots.

The JSON document (written by `runner`) is the interface: this module reads only it, so a
report can be redone from any results file. Plots (matplotlib, Agg, no pyplot state):
`ttft_cdf.png` (TTFT CDF per router, one panel per rate), `load_sweep.png` (goodput and
p99 TTFT against offered load) and `engine_load_r<rate>.png` (running + waiting requests
per engine over time, one panel per router).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from loadtests.bench.runner import RESULTS_FILE, RESULTS_KIND

REPORT_FILE = "results.md"
PLOTS_DIR = "plots"


class ReportError(ValueError):
    """The file is not a readable results document."""


@dataclass(frozen=True)
class LoadOverTime:
    t_s: tuple[float, ...]
    per_engine: tuple[tuple[float | None, ...], ...]  # running + waiting, [engine][sample]


@dataclass(frozen=True)
class Point:
    """One (rate, router) point as the report uses it; times in engine-time ms."""

    router: str
    rate: float
    status: str
    reason: str | None
    notes: str
    version: str | None
    sent: int = 0  # requests in the trace, warm-up included
    requests: int = 0  # measured
    ok: int = 0
    goodput: float | None = None
    throughput: float | None = None
    output_tps: float | None = None
    ttft_p50: float | None = None
    ttft_p90: float | None = None
    ttft_p99: float | None = None
    itl_p50: float | None = None
    itl_p99: float | None = None
    e2e_p50: float | None = None
    e2e_p99: float | None = None
    hit_rate: float | None = None
    preemptions: int | None = None
    imbalance: float | None = None
    engine_requests: tuple[int, ...] = ()
    router_cpu_ms: float | None = None
    client_late_p99_ms: float | None = None
    client_cpu_ms: float | None = None
    ttft_samples: tuple[float, ...] = ()
    load: LoadOverTime | None = None


@dataclass(frozen=True)
class Results:
    config: Mapping[str, object]
    machine: Mapping[str, object]
    versions: Mapping[str, object]
    points: tuple[Point, ...]

    @property
    def routers(self) -> list[str]:
        return list(dict.fromkeys(p.router for p in self.points))

    @property
    def rates(self) -> list[float]:
        return sorted({p.rate for p in self.points})

    def point(self, router: str, rate: float) -> Point | None:
        found = [p for p in self.points if p.router == router and p.rate == rate]
        return found[-1] if found else None


# --- reading ------------------------------------------------------------------------------


def results_path(path: Path) -> Path:
    """A results directory or file → the results.json to read."""
    return path / RESULTS_FILE if path.is_dir() else path


def load(path: Path) -> Results:
    try:
        document = json.loads(results_path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: {exc}") from None
    if not isinstance(document, dict) or document.get("kind") != RESULTS_KIND:
        raise ReportError(f"{path}: not a kvgate-bench run results file")
    points = document.get("points")
    return Results(
        config=_dict(document.get("config")),
        machine=_dict(document.get("machine")),
        versions=_dict(document.get("versions")),
        points=tuple(_point(p) for p in points if isinstance(p, dict))
        if isinstance(points, list)
        else (),
    )


def _point(data: Mapping[str, object]) -> Point:
    summary = _dict(_dict(data.get("load")).get("summary"))
    engines = _dict(data.get("engines"))
    ttft, itl, e2e = (_dict(summary.get(k)) for k in ("ttft_ms", "itl_ms", "e2e_ms"))
    samples = data.get("ttft_ms")
    return Point(
        router=str(data.get("router")),
        rate=_num(data.get("rate")) or 0.0,
        status=str(data.get("status")),
        reason=_str(data.get("reason")),
        notes=_str(data.get("notes")) or "",
        version=_str(data.get("version")),
        sent=int(_num(data.get("requests_sent")) or 0),
        requests=int(_num(summary.get("requests")) or 0),
        ok=int(_num(summary.get("ok")) or 0),
        goodput=_num(summary.get("goodput")),
        throughput=_num(summary.get("request_throughput")),
        output_tps=_num(summary.get("output_token_throughput")),
        ttft_p50=_num(ttft.get("p50")),
        ttft_p90=_num(ttft.get("p90")),
        ttft_p99=_num(ttft.get("p99")),
        itl_p50=_num(itl.get("p50")),
        itl_p99=_num(itl.get("p99")),
        e2e_p50=_num(e2e.get("p50")),
        e2e_p99=_num(e2e.get("p99")),
        hit_rate=_num(engines.get("prefix_hit_rate")),
        preemptions=_int(engines.get("preemptions")),
        imbalance=_num(engines.get("imbalance")),
        engine_requests=_ints(engines.get("requests")),
        router_cpu_ms=_num(data.get("router_cpu_ms_per_request")),
        client_late_p99_ms=_num(_dict(data.get("client_lateness_ms_wall")).get("p99")),
        client_cpu_ms=_num(_dict(data.get("load")).get("client_cpu_ms_per_request")),
        ttft_samples=tuple(x for x in samples if isinstance(x, int | float))
        if isinstance(samples, list)
        else (),
        load=_load(_dict(engines.get("over_time"))),
    )


def _load(data: Mapping[str, object]) -> LoadOverTime | None:
    t, running, waiting = data.get("t_s"), data.get("running"), data.get("waiting")
    if not (isinstance(t, list) and isinstance(running, list) and isinstance(waiting, list)):
        return None
    rows = []
    for run_row, wait_row in zip(running, waiting, strict=False):
        if isinstance(run_row, list) and isinstance(wait_row, list):
            rows.append(tuple(_sum(r, w) for r, w in zip(run_row, wait_row, strict=False)))
    return LoadOverTime(tuple(_num(x) or 0.0 for x in t), tuple(rows))


def _sum(a: object, b: object) -> float | None:
    x, y = _num(a), _num(b)
    return None if x is None or y is None else x + y


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: object) -> int | None:
    number = _num(value)
    return None if number is None else round(number)


def _ints(value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(round(x) for x in value if isinstance(x, int | float))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --- Markdown -----------------------------------------------------------------------------

COLUMNS = (
    "router",
    "ok/req",
    "goodput/s",
    "goodput ×direct",
    "req/s",
    "out tok/s",
    "TTFT p50",
    "TTFT p90",
    "TTFT p99",
    "p99 ×direct",
    "ITL p50",
    "ITL p99",
    "E2E p50",
    "hit rate",
    "preempt",
    "imbalance",
    "router CPU ms/req",
)


def markdown(results: Results, plots: Sequence[Path] = (), base: Path | None = None) -> str:
    """The report: set-up, one table per offered rate, skipped routers, notes, plots."""
    lines = [f"# {results.config.get('workload', 'benchmark')}: routers compared", ""]
    lines += [setup_text(results), ""]
    for rate in results.rates:
        lines += [f"## Offered load {rate:g} req/s", "", *rate_table(results, rate), ""]
    lines += _skipped(results)
    lines += _notes(results)
    if plots:
        lines += ["## Plots", ""]
        for plot in plots:
            link = plot.relative_to(base) if base is not None else plot
            lines += [f"![{plot.stem}]({link.as_posix()})", ""]
    return "\n".join(lines).rstrip() + "\n"


def setup_text(results: Results) -> str:
    c, m = results.config, results.machine
    sla = _dict(c.get("sla"))
    scale = _num(c.get("time_scale")) or 1.0
    params = _dict(c.get("params"))
    versions = ", ".join(f"{k} {v}" for k, v in results.versions.items() if v)
    sent = sorted({p.sent for p in results.points if p.status == "ok"})
    text = (
        f"{c.get('engines')} `kvgate-sim` engines (profile `{c.get('profile')}`, "
        f"time scale {scale:g}{_sim_args(c.get('sim_args'))}), workload `{c.get('workload')}`"
        + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")
        + f", seed {c.get('seed')}: every router gets the same trace at a given rate, up to "
        f"{_fmt(c.get('duration_s'), 0)} s of Poisson arrivals or the workload's end "
        f"({_span(sent)} requests per point; the first {_fmt(c.get('warmup_s'), 0)} s left "
        f"out of the statistics), on fresh engines every time. Goodput: requests per "
        f"second with TTFT ≤ "
        f"{_fmt(_mul(sla.get('ttft_s'), 1000), 0)} ms and TPOT ≤ "
        f"{_fmt(_mul(sla.get('tpot_s'), 1000), 0)} ms. Latencies in ms.\n\n"
        f"Machine: {m.get('cores')} cores ({m.get('cpu_model')}), load average "
        f"{_load_average(m.get('load_average'))} at the start, Python {m.get('python')}; "
        f"{versions}."
    )
    if scale != 1:
        text += (
            f"\n\nThe engines ran {scale:g}× faster than real time and the trace was replayed "
            f"as much faster; latencies and rates are in engine time (wall × {scale:g}), so "
            f"whatever a router adds by itself also counts {scale:g}× here."
        )
    return text


def rate_table(results: Results, rate: float) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    direct = results.point("direct", rate)
    for router in results.routers:
        p = results.point(router, rate)
        if p is None or p.status != "ok":
            continue
        cells = [
            f"`{router}`",
            f"{p.ok}/{p.requests}",
            _fmt(p.goodput),
            _ratio(p.goodput, direct.goodput if direct else None),
            _fmt(p.throughput),
            _fmt(p.output_tps, 0),
            _fmt(p.ttft_p50, 0),
            _fmt(p.ttft_p90, 0),
            _fmt(p.ttft_p99, 0),
            _ratio(p.ttft_p99, direct.ttft_p99 if direct else None),
            _fmt(p.itl_p50, 1),
            _fmt(p.itl_p99, 1),
            _fmt(p.e2e_p50, 0),
            _pct(p.hit_rate),
            _fmt(p.preemptions, 0),
            _fmt(p.imbalance),
            _fmt(p.router_cpu_ms),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _skipped(results: Results) -> list[str]:
    missing = {p.router: p for p in results.points if p.status != "ok"}
    if not missing:
        return []
    lines = ["## Skipped or failed", ""]
    for router, p in missing.items():
        reason = (p.reason or "").splitlines()
        lines.append(f"- `{router}` {p.status}: {reason[0] if reason else 'no reason given'}")
    return [*lines, ""]


def _notes(results: Results) -> list[str]:
    notes = {p.router: p.notes for p in results.points if p.status == "ok" and p.notes}
    late = [p.client_late_p99_ms for p in results.points if p.client_late_p99_ms is not None]
    client = [p.client_cpu_ms for p in results.points if p.client_cpu_ms is not None]
    lines = ["## Notes", ""]
    lines += [f"- `{router}`: {note}" for router, note in notes.items()]
    lines += [
        "- hit rate: the engines' prefix-cache hit rate over the whole point (hit tokens / "
        "queried tokens); imbalance: max / mean of requests per engine (1.00 is even).",
    ]
    if late:
        lines.append(
            f"- the load generator sent requests at most {max(late):.1f} ms (wall, p99) "
            "after their scheduled time."
        )
    if client:
        lines.append(
            f"- the load generator's own CPU: at most {max(client):.2f} ms per request "
            "(all streamed chunks parsed)."
        )
    return [*lines, ""]


def _fmt(value: object, digits: int = 2) -> str:
    number = _num(value)
    return "–" if number is None else f"{number:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or reference is None or reference == 0:
        return "–"
    return f"{value / reference:.2f}×"


def _mul(value: object, factor: float) -> float | None:
    number = _num(value)
    return None if number is None else number * factor


def _sim_args(value: object) -> str:
    if isinstance(value, list) and value:
        return ", `" + " ".join(str(arg) for arg in value) + "`"
    return ""


def _span(values: Sequence[int]) -> str:
    if not values:
        return "no"
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"


def _load_average(value: object) -> str:
    if isinstance(value, list) and value:
        return _fmt(value[0])
    return "?"


# --- plots --------------------------------------------------------------------------------


def plots(results: Results, out: Path) -> list[Path]:
    """Write every PNG into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    colors = _colors(results.routers)
    written = [_ttft_cdf(results, out, colors), _load_sweep(results, out, colors)]
    written += [_engine_load(results, rate, out) for rate in results.rates]
    return [path for path in written if path is not None]


def _colors(routers: Sequence[str]) -> dict[str, str]:
    palette = [f"C{i}" for i in range(10)]
    return {router: palette[i % len(palette)] for i, router in enumerate(routers)}


def _figure(panels: int, width: float = 5.0, height: float = 3.6) -> tuple[Figure, list[Axes]]:
    cols = min(panels, 3)
    rows = math.ceil(panels / cols)
    figure = Figure(figsize=(width * cols, height * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for spare in flat[panels:]:
        spare.set_visible(False)
    return figure, flat[:panels]


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=100)
    return path


def _ttft_cdf(results: Results, out: Path, colors: Mapping[str, str]) -> Path | None:
    rates = results.rates
    if not rates:
        return None
    figure, axes = _figure(len(rates))
    for ax, rate in zip(axes, rates, strict=True):
        for router in results.routers:
            p = results.point(router, rate)
            if p is None or not p.ttft_samples:
                continue
            xs = sorted(p.ttft_samples)
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax.step(xs, ys, where="post", label=router, color=colors[router])
        _log_axis(ax, "x")
        ax.set_title(f"TTFT CDF at {rate:g} req/s")
        ax.set_xlabel("TTFT (ms, engine time)")
        ax.set_ylabel("fraction of requests")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
    return _save(figure, out / "ttft_cdf.png")


def _load_sweep(results: Results, out: Path, colors: Mapping[str, str]) -> Path | None:
    if not results.rates:
        return None
    figure, (goodput_ax, p99_ax) = _figure(2)
    for router in results.routers:
        points = [results.point(router, rate) for rate in results.rates]
        ok = [p for p in points if p is not None and p.status == "ok"]
        if not ok:
            continue
        rates = [p.rate for p in ok]
        goodput_ax.plot(
            rates, [_nan(p.goodput) for p in ok], "o-", label=router, color=colors[router]
        )
        p99_ax.plot(rates, [_nan(p.ttft_p99) for p in ok], "o-", label=router, color=colors[router])
    goodput_ax.set_title("Goodput against offered load")
    goodput_ax.set_xlabel("offered load (req/s)")
    goodput_ax.set_ylabel("goodput (req/s meeting the SLA)")
    goodput_ax.set_ylim(bottom=0)
    p99_ax.set_title("p99 TTFT against offered load")
    p99_ax.set_xlabel("offered load (req/s)")
    p99_ax.set_ylabel("p99 TTFT (ms, engine time)")
    _log_axis(p99_ax, "y")
    for ax in (goodput_ax, p99_ax):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    return _save(figure, out / "load_sweep.png")


def _engine_load(results: Results, rate: float, out: Path) -> Path | None:
    points = [results.point(router, rate) for router in results.routers]
    shown = [p for p in points if p is not None and p.load is not None and p.load.t_s]
    if not shown:
        return None
    figure, axes = _figure(len(shown), width=4.6, height=3.0)
    top = max(
        (v for p in shown if p.load for row in p.load.per_engine for v in row if v is not None),
        default=1.0,
    )
    for ax, p in zip(axes, shown, strict=True):
        assert p.load is not None
        for engine, row in enumerate(p.load.per_engine):
            ax.plot(p.load.t_s, [_nan(v) for v in row], label=f"engine {engine}", linewidth=1)
        ax.set_title(f"{p.router} at {rate:g} req/s")
        ax.set_xlabel("time (s, engine time)")
        ax.set_ylabel("running + waiting")
        ax.set_ylim(0, top * 1.05 + 1)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="x-small", ncol=2)
    return _save(figure, out / f"engine_load_r{rate:g}.png")


def _log_axis(ax: Axes, which: str) -> None:
    """A log axis labelled with plain numbers (1, 10, 100…), no crowded minor labels."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def write(path: Path, out: Path | None = None) -> tuple[Path, list[Path]]:
    """Read a results file (or directory), write `results.md` and the plots next to it
    (or into `out`); returns the Markdown path and the plots."""
    results = load(path)
    target = out or results_path(path).parent
    written = plots(results, target / PLOTS_DIR)
    report = target / REPORT_FILE
    report.write_text(markdown(results, written, base=target))
    return report, written

"""`kvgate-bench report` on a small results document: the Markdown tables and the PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.bench import report
from loadtests.bench.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def summary(goodput: float, p99: float, requests: int = 100) -> dict[str, object]:
    def pct(p50: float, p99: float) -> dict[str, object]:
        return {"count": requests, "mean": p50, "p50": p50, "p90": (p50 + p99) / 2, "p99": p99}

    return {
        "requests": requests,
        "ok": requests,
        "errors": 0,
        "goodput": goodput,
        "request_throughput": goodput + 0.5,
        "output_token_throughput": 150 * goodput,
        "ttft_ms": pct(p99 / 4, p99),
        "itl_ms": pct(8.0, 30.0),
        "e2e_ms": pct(1500.0, 4000.0),
        "tpot_ms": pct(9.0, 12.0),
    }


def point(
    router: str, rate: float, goodput: float, p99: float, hit: float | None, cpu: float | None
) -> dict[str, object]:
    return {
        "workload": "shared-prefix",
        "rate": rate,
        "router": router,
        "status": "ok",
        "reason": None,
        "notes": f"{router} note",
        "version": "1.0",
        "load": {"summary": summary(goodput, p99)},
        "client_lateness_ms_wall": {"p99": 1.5},
        "ttft_ms": [p99 / 8, p99 / 4, p99 / 2, p99],
        "engines": {
            "prefix_hit_rate": hit,
            "preemptions": 3,
            "requests": [30, 20, 25, 25],
            "imbalance": 1.2,
            "over_time": {
                "t_s": [0.0, 1.0, 2.0],
                "running": [[0, 3, 1], [0, 2, 2], [0, 1, 0], [0, 4, None]],
                "waiting": [[0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 2, None]],
            },
        },
        "router_cpu_ms_per_request": cpu,
    }


DOCUMENT = {
    "kind": "kvgate-bench-run",
    "config": {
        "workload": "shared-prefix",
        "params": {"groups": "75"},
        "engines": 4,
        "profile": "h100-llama3-8b",
        "time_scale": 2.0,
        "seed": 0,
        "duration_s": 60,
        "warmup_s": 5,
        "sla": {"ttft_s": 2.0, "tpot_s": 0.1},
    },
    "machine": {"cores": 2, "cpu_model": "Test CPU", "load_average": [1.25, 1, 1], "python": "3"},
    "versions": {"kvgate": "0.1.0", "smg": "1.13.0"},
    "points": [
        point("direct", 8, 4.0, 2000.0, 0.2, None),
        point("kvgate", 8, 8.0, 500.0, 0.8, 2.5),
        point("direct", 16, 3.0, 9000.0, 0.1, None),
        point("kvgate", 16, 12.0, 900.0, 0.75, 2.0),
        {
            "router": "smg",
            "rate": 8,
            "status": "skipped",
            "reason": "smg is not installed (/x/.peers/smg/bin/smg missing)",
        },
    ],
}


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    (tmp_path / "results.json").write_text(json.dumps(DOCUMENT))
    return tmp_path


def test_load_reads_points(results_dir: Path) -> None:
    results = report.load(results_dir)
    assert results.routers == ["direct", "kvgate", "smg"]
    assert results.rates == [8, 16]
    kvgate = results.point("kvgate", 16)
    assert kvgate is not None
    assert (kvgate.goodput, kvgate.ttft_p99, kvgate.hit_rate) == (12.0, 900.0, 0.75)
    assert kvgate.load is not None
    assert kvgate.load.per_engine[3] == (0, 6, None)  # running + waiting; a missed scrape


def test_markdown_tables(results_dir: Path) -> None:
    text = report.markdown(report.load(results_dir))
    lines = text.splitlines()
    assert "## Offered load 8 req/s" in lines
    assert "## Offered load 16 req/s" in lines
    kvgate_16 = next(
        line for line in lines[lines.index("## Offered load 16 req/s") :] if "`kvgate`" in line
    )
    cells = [cell.strip() for cell in kvgate_16.strip("|").split("|")]
    row = dict(zip(report.COLUMNS, cells, strict=True))
    assert row["ok/req"] == "100/100"
    assert row["goodput/s"] == "12.00"
    assert row["goodput ×direct"] == "4.00×"
    assert row["TTFT p99"] == "900"
    assert row["p99 ×direct"] == "0.10×"
    assert row["hit rate"] == "75%"
    assert row["preempt"] == "3"
    assert row["imbalance"] == "1.20"
    assert row["router CPU ms/req"] == "2.00"
    direct_8 = next(line for line in lines if line.startswith("| `direct`"))
    assert direct_8.endswith("| – |")  # no router process, no CPU
    assert "- `smg` skipped: smg is not installed (/x/.peers/smg/bin/smg missing)" in lines
    assert "time scale 2" in text
    assert "engine time (wall × 2)" in text
    assert "2 cores (Test CPU)" in text
    assert "- `kvgate`: kvgate note" in lines


def test_plots_are_png_files(results_dir: Path) -> None:
    written = report.plots(report.load(results_dir), results_dir / "plots")
    names = sorted(p.name for p in written)
    assert names == ["engine_load_r16.png", "engine_load_r8.png", "load_sweep.png", "ttft_cdf.png"]
    for path in written:
        assert path.read_bytes().startswith(PNG_MAGIC)


def test_report_command_writes_markdown_with_plot_links(
    results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(results_dir / "results.json")]) == 0
    markdown = (results_dir / "results.md").read_text()
    assert "![load_sweep](plots/load_sweep.png)" in markdown
    assert (results_dir / "plots" / "ttft_cdf.png").read_bytes().startswith(PNG_MAGIC)
    assert "## Offered load 16 req/s" in capsys.readouterr().out


def test_not_a_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "results.json"
    bogus.write_text(json.dumps({"points": []}))
    with pytest.raises(report.ReportError, match="not a kvgate-bench run"):
        report.load(bogus)
    assert main(["report", str(tmp_path)]) == 2
    assert "not a kvgate-bench run" in capsys.readouterr().err

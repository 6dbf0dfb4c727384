"""`kvgate-bench overhead`: the per-router report and router selection (no load is run)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from loadtests.bench import overhead
from loadtests.bench.overhead import LatencyResult, Skipped, ThroughputResult
from loadtests.bench.routers import Engines
from loadtests.bench.stats import Summary
from loadtests.fleet import Fleet


def summary(p50: float, p99: float) -> Summary:
    return Summary(count=100, mean=p50, p50=p50, p90=(p50 + p99) / 2, p99=p99)


def latency(
    target: str, stream: bool, tokens: int, p50: float, p99: float, chunks: float
) -> LatencyResult:
    return LatencyResult(target, stream, tokens, summary(p50, p99), summary(p50 / 2, p99), chunks)


def throughput(target: str, stream: bool, rps: float, cpu: float | None) -> ThroughputResult:
    return ThroughputResult(target, stream, 32, int(rps * 5), 5.0, rps, cpu, 1.0)


LATENCY = [
    latency("direct", False, 16, 1.00, 2.00, 1),
    latency("kvgate", False, 16, 1.80, 3.50, 1),
    latency("sglang-router", False, 16, 1.30, 2.40, 1),
    latency("direct", True, 16, 1.10, 2.10, 18),
    latency("kvgate", True, 16, 2.00, 4.00, 18),
    latency("sglang-router", True, 16, 41.10, 44.00, 18),
    latency("direct", True, 128, 2.00, 3.00, 130),
    latency("kvgate", True, 128, 3.12, 5.00, 130),
    latency("sglang-router", True, 128, 42.00, 45.00, 130),
]
THROUGHPUT = [
    throughput("direct", False, 1500.0, None),
    throughput("kvgate", False, 900.0, 0.62),
    throughput("sglang-router", False, 1200.0, 0.31),
    throughput("direct", True, 1400.0, None),
    throughput("kvgate", True, 700.0, 0.73),
    throughput("sglang-router", True, 1100.0, 0.35),
]


def test_summary_table_has_one_row_per_router_against_direct() -> None:
    lines = overhead.summary_table(LATENCY, THROUGHPUT, max_tokens=16)
    rows = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert rows == [
        "| direct | (baseline) | (baseline) | 1500 / 1400 | – / – |",
        "| kvgate | +0.80 / +1.50 | +0.90 / +1.90 | 900 / 700 | 0.62 / 0.73 |",
        "| sglang-router † | +0.30 / +0.40 | +40.00 / +41.90 | 1200 / 1100 | 0.31 / 0.35 |",
    ]
    assert any(line.startswith("† sglang-router never sets TCP_NODELAY") for line in lines)


def test_summary_table_marks_missing_measurements() -> None:
    lines = overhead.summary_table(LATENCY[:2], THROUGHPUT[:1], max_tokens=16)
    assert "| kvgate | +0.80 / +1.50 | – | – / – | – / – |" in lines
    assert not any("TCP_NODELAY" in line for line in lines)


def test_added_latency_lines_per_router_with_chunk_slope() -> None:
    lines = overhead.added_latency_lines(LATENCY)
    assert "kvgate: added latency (non-stream, 16 tokens): p50 +0.80 ms, p99 +1.50 ms" in lines
    assert "kvgate: added latency (stream, 128 tokens): p50 +1.12 ms, p99 +2.00 ms" in lines
    # (1.12 - 0.90) ms over 112 more chunks ≈ 2 µs per chunk
    assert "kvgate: added per streamed chunk (slope 16→128): 2 µs" in lines
    assert not any(line.startswith("direct:") for line in lines)


def test_format_report_lists_skipped_routers() -> None:
    skipped = [Skipped("envoy", "envoy is not installed")]
    report = overhead.format_report(LATENCY, THROUGHPUT, skipped, max_tokens=16)
    assert "skipped envoy: envoy is not installed" in report
    assert "| kvgate | stream | 32 | 3500 | 700 | 0.73 | 1.0 |" in report
    assert report.index("| router |") < report.index("| target | mode | max_tokens |")


def test_parser_takes_routers() -> None:
    parser = argparse.ArgumentParser()
    overhead.add_arguments(parser)
    args = parser.parse_args(["--routers", "direct,kvgate,smg"])
    assert args.routers == "direct,kvgate,smg"
    assert parser.parse_args([]).routers == overhead.DEFAULT_ROUTERS


def test_start_routers_skips_missing_peers_and_needs_no_process_for_direct(
    tmp_path: Path,
) -> None:
    parser = argparse.ArgumentParser()
    overhead.add_arguments(parser)
    args = parser.parse_args(["--routers", "direct,smg", "--peers-dir", str(tmp_path / "none")])
    engines = Engines(("http://127.0.0.1:1",), overhead.MODEL)
    with Fleet(log_dir=tmp_path) as fleet:
        targets, skipped = overhead.start_routers(args, fleet, engines, tmp_path)
        assert fleet.processes == []
    assert list(targets) == ["direct"]
    assert targets["direct"].process is None
    assert [s.target for s in skipped] == ["smg"]
    assert "not installed" in skipped[0].reason


def test_start_routers_rejects_unknown_router(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    overhead.add_arguments(parser)
    args = parser.parse_args(["--routers", "direct,nginx"])
    engines = Engines(("http://127.0.0.1:1",), overhead.MODEL)
    with Fleet(log_dir=tmp_path) as fleet, pytest.raises(ValueError, match="unknown router"):
        overhead.start_routers(args, fleet, engines, tmp_path)

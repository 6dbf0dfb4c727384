"""The benchmark runner: unit pieces, then one `--quick` run with real processes on loopback.

The end-to-end run uses two simulated engines at a large time scale and small prompts; its
assertions are about what was produced and counted, never about how long anything took."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from loadtests.bench.cli import build_parser, main, run_config
from loadtests.bench.loadgen import LoadSummary
from loadtests.bench.routers import RouterSettings, create
from loadtests.bench.runner import QUICK, RunConfig, rotated, run_point, to_engine_time
from loadtests.bench.stats import Summary

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load_summary() -> LoadSummary:
    times = Summary(count=2, mean=10.0, p50=10.0, p90=20.0, p99=30.0)
    return LoadSummary(
        requests=2,
        ok=2,
        errors=0,
        errors_by_kind={},
        duration_s=5.0,
        request_throughput=0.4,
        output_token_throughput=40.0,
        goodput=0.2,
        sla_met=1,
        prompt_tokens=100,
        output_tokens=200,
        cached_tokens=50,
        ttft_ms=times,
        tpot_ms=times,
        itl_ms=times,
        e2e_ms=times,
        lateness_ms=times,
    )


def test_engine_time_scales_latencies_up_and_rates_down() -> None:
    scaled = to_engine_time(load_summary(), 10)
    assert scaled.ttft_ms == Summary(count=2, mean=100.0, p50=100.0, p90=200.0, p99=300.0)
    assert scaled.e2e_ms.p99 == 300.0
    assert (scaled.duration_s, scaled.request_throughput) == (50.0, pytest.approx(0.04))
    assert (scaled.goodput, scaled.output_token_throughput) == (pytest.approx(0.02), 4.0)
    assert (scaled.requests, scaled.sla_met, scaled.cached_tokens) == (2, 1, 50)
    assert to_engine_time(load_summary(), 1) == load_summary()


def test_rotation_gives_each_rate_another_first_router() -> None:
    routers = [create(spec) for spec in ("direct", "kvgate", "kvgate:round-robin")]
    orders = [[r.spec for r in rotated(routers, shift)] for shift in range(4)]
    assert orders == [
        ["direct", "kvgate", "kvgate:round-robin"],
        ["kvgate", "kvgate:round-robin", "direct"],
        ["kvgate:round-robin", "direct", "kvgate"],
        ["direct", "kvgate", "kvgate:round-robin"],
    ]


def test_a_missing_peer_is_skipped_without_starting_anything(tmp_path: Path) -> None:
    settings = RouterSettings(peers_root=tmp_path / "none")
    config = RunConfig(
        "shared-prefix", ("vllm-router",), (4.0,), tmp_path, router_settings=settings
    )
    point = run_point(config, create("vllm-router", settings), 4.0, [])
    assert point["status"] == "skipped"
    assert "not installed" in str(point["reason"])
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"routers": ()}, "router", id="no-routers"),
        pytest.param({"engines": 0}, "engines", id="no-engines"),
        pytest.param({"time_scale": 0.0}, "time_scale", id="time-scale"),
        pytest.param({"warmup_s": 90.0}, "warmup", id="warmup-past-duration"),
    ],
)
def test_config_is_checked(changes: dict[str, object], message: str, tmp_path: Path) -> None:
    fields: dict[str, object] = {
        "workload": "shared-prefix",
        "routers": ("direct",),
        "rates": (1.0,),
        "out": tmp_path,
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        RunConfig(**fields)  # type: ignore[arg-type]


def test_quick_preset_and_overrides(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["run", "--quick", "--rates", "3,5", "--param", "groups=3", "--out", str(tmp_path)]
    )
    config = run_config(args)
    assert config.engines == QUICK.engines
    assert config.rates == (3.0, 5.0)
    assert config.time_scale == QUICK.time_scale
    assert config.params["groups"] == "3"  # explicit beats the preset
    assert config.params["prefix_tokens"] == QUICK.params["shared-prefix"]["prefix_tokens"]


def test_quick_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["run", "--quick", "--routers", "direct,kvgate,smg", "--rates", "4"]
    argv += ["--peers-dir", str(tmp_path / "no-peers"), "--out", str(out)]
    assert main(argv) == 0

    document = json.loads((out / "results.json").read_text())
    assert document["machine"]["cores"] >= 1
    points = {p["router"]: p for p in document["points"]}
    assert points["smg"]["status"] == "skipped"
    for router in ("direct", "kvgate"):
        point = points[router]
        assert point["status"] == "ok", point.get("reason")
        summary = point["load"]["summary"]
        assert summary["requests"] > 0
        assert summary["ok"] == summary["requests"], point["errors_sample"]
        assert len(point["ttft_ms"]) == summary["ok"]
        engines = point["engines"]
        assert len(engines["requests"]) == QUICK.engines
        assert sum(engines["requests"]) == point["requests_sent"]  # all served, all counted
        assert 0 < engines["prefix_hit_rate"] < 1  # groups share prefixes
        assert len(engines["over_time"]["t_s"]) >= 2
    assert points["direct"]["router_cpu_s"] is None
    assert points["kvgate"]["router_cpu_ms_per_request"] > 0
    assert not math.isnan(points["kvgate"]["load"]["summary"]["ttft_ms"]["p99"])

    markdown = (out / "results.md").read_text()
    assert "| `direct` |" in markdown
    assert "| `kvgate` |" in markdown
    assert "`smg` skipped" in markdown
    for name in ("ttft_cdf.png", "load_sweep.png", "engine_load_r4.png"):
        assert (out / "plots" / name).read_bytes().startswith(PNG_MAGIC)

"""The dashboard checker's list of kvgate metrics is the one `GatewayMetrics` exports."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from gateway.discovery.kubernetes_health import DiscoveryHealth
from gateway.observability.metrics import GatewayMetrics
from gateway.prefix.interfaces import IndexStats

SCRIPT = Path(__file__).parents[2] / "deploy" / "scripts" / "check_dashboard.py"
_SUFFIXES = ("_bucket", "_count", "_sum")


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_dashboard", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exported_families() -> set[str]:
    metrics = GatewayMetrics()
    metrics.watch_prefix_index(lambda: IndexStats(entries=0, endpoints=0))
    metrics.watch_discovery(lambda: DiscoveryHealth((), {}, 180.0))
    lines = metrics.render().decode().splitlines()
    return {line.split()[2] for line in lines if line.startswith("# HELP ")}


def test_every_metric_the_checker_accepts_is_exported() -> None:
    families = _exported_families()
    known: set[str] = _checker()._KVGATE
    missing = {
        name
        for name in known
        if name not in families and name.removesuffix(_suffix(name)) not in families
    }
    assert missing == set()


def test_the_dashboard_passes_the_checker() -> None:
    checker = _checker()
    for dashboard in sorted((SCRIPT.parents[1] / "grafana").glob("*.json")):
        assert checker.problems(dashboard) == []


def _suffix(name: str) -> str:
    return next((suffix for suffix in _SUFFIXES if name.endswith(suffix)), "")

"""Check Grafana dashboards: valid JSON, unique panel ids, every panel has a query, and
every metric a query names is one that kvgate, vLLM or DCGM exports (catches renames).

    python check_dashboard.py DASHBOARD.json...
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_METRIC = re.compile(r"\b(kvgate_[a-z_]+|vllm:[a-z_]+|DCGM_FI_[A-Z0-9_]+)\b")
# kvgate's metric families (gateway/observability/metrics.py) as Prometheus exposes them.
_KVGATE = {
    "kvgate_requests_total",
    "kvgate_request_duration_seconds_bucket",
    "kvgate_time_to_first_chunk_seconds_bucket",
    "kvgate_inter_chunk_seconds_bucket",
    "kvgate_engine_in_flight_requests",
    "kvgate_engine_ready",
    "kvgate_upstream_errors_total",
    "kvgate_retries_total",
    "kvgate_tokens_total",
    "kvgate_discovery_synced",
    "kvgate_discovery_watching",
    "kvgate_discovery_last_sync_age_seconds",
    "kvgate_discovery_relists_total",
    "kvgate_discovery_watch_events_total",
    "kvgate_discovery_errors_total",
    "kvgate_discovery_engines",
}


def problems(path: Path) -> list[str]:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    found: list[str] = []
    ids = [panel["id"] for panel in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        found.append("duplicate panel ids")
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        targets = panel.get("targets") or []
        if not targets:
            found.append(f"panel {panel['title']!r} has no query")
        for target in targets:
            for metric in _METRIC.findall(target["expr"]):
                if metric.startswith("kvgate_") and metric not in _KVGATE:
                    found.append(f"panel {panel['title']!r}: unknown kvgate metric {metric}")
    return found


def main(paths: list[str]) -> int:
    failures = 0
    for name in paths:
        path = Path(name)
        for problem in problems(path):
            print(f"FAIL {path}: {problem}")
            failures += 1
        if not failures:
            panels = len(json.loads(path.read_text(encoding="utf-8"))["panels"])
            print(f"{path}: {panels} panels ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Polling helpers for tests against real processes: no sleeps-then-assert, only deadlines."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx

from loadtests.fleet import ManagedProcess


def poll(check: Callable[[], bool], *, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` (exact series name) whose labels include `labels`."""
    total = 0.0
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def scrape(process: ManagedProcess, name: str, **labels: str) -> float:
    text = httpx.get(process.url + "/metrics", timeout=5, trust_env=False).text
    return metric_sum(text, name, **labels)


def set_faults(sim: ManagedProcess, **faults: object) -> None:
    response = httpx.post(sim.url + "/_sim/faults", json=faults, timeout=5, trust_env=False)
    response.raise_for_status()


def clear_faults(sim: ManagedProcess) -> None:
    set_faults(sim, http_status=None, stall_first_byte_s=0.0, cut_after_chunks=None, slowdown=1.0)

"""Workloads by name: the registry the CLI and the benchmark runner build them from."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

from loadtests.bench.trace import TraceRecord
from loadtests.workloads import params
from loadtests.workloads.interfaces import RunSpec, Workload
from loadtests.workloads.mixed import Mixed
from loadtests.workloads.multi_turn import MultiTurn
from loadtests.workloads.no_reuse import NoReuse
from loadtests.workloads.overhead import Overhead
from loadtests.workloads.shared_prefix import SharedPrefix
from loadtests.workloads.text import TextSource

WORKLOADS: Mapping[str, type[Workload]] = MappingProxyType(
    {cls.name: cls for cls in (SharedPrefix, MultiTurn, Mixed, NoReuse, Overhead)}
)


def create(name: str, overrides: Mapping[str, str] | None = None) -> Workload:
    """The workload `name` with its defaults replaced by `overrides` (`key: "value"`)."""
    try:
        cls = WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; known: {sorted(WORKLOADS)}") from None
    return params.build(cls, overrides or {})


def generate(
    name: str,
    run: RunSpec,
    overrides: Mapping[str, str] | None = None,
    text: TextSource | None = None,
) -> Iterator[TraceRecord]:
    """The records of workload `name` (lazily); `text` defaults to the Qwen2.5 tokenizer."""
    return create(name, overrides).records(run, text or TextSource.default())


def describe(name: str) -> str:
    """One line: the workload's name and its parameters with their defaults."""
    defaults = params.defaults(WORKLOADS[name])
    return f"{name}: " + ", ".join(f"{key}={value}" for key, value in defaults.items())

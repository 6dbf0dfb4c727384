"""`overhead`: tiny prompts and few output tokens, to measure a router's own cost.

Against engines with zero step time (the simulator's `instant` profile) nearly all the
latency left is HTTP, JSON and the router. Each prompt is one short random user message.

Parameters (defaults): `prompt_tokens` (16), `output_tokens` (16).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from loadtests.bench.trace import TraceRecord
from loadtests.workloads.arrivals import limited, poisson_offsets, require_bound, seeded
from loadtests.workloads.bodies import chat_body, message
from loadtests.workloads.interfaces import RunSpec, Workload
from loadtests.workloads.params import check_min
from loadtests.workloads.text import TextSource


@dataclass(frozen=True)
class Overhead(Workload):
    name: ClassVar[str] = "overhead"

    prompt_tokens: int = 16
    output_tokens: int = 16

    def __post_init__(self) -> None:
        check_min("prompt_tokens", self.prompt_tokens)
        check_min("output_tokens", self.output_tokens)

    def records(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]:
        require_bound(run, self.name)
        return limited(self._all(run, text), run)

    def _all(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]:
        rng = seeded(run.seed, "overhead")
        for offset in poisson_offsets(seeded(run.seed, "arrivals"), run.rate):
            messages = [message("user", text.text(rng, self.prompt_tokens))]
            body = chat_body(run.model, messages, self.output_tokens)
            yield TraceRecord(offset, body, tag="overhead")

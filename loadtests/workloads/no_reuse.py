"""`no-reuse`: random prompts that share nothing, not even their first block.

Every prompt is fresh random prose from its first token: for chat, the system message is
random too (without one the chat template would add the same default system prompt to every
request); only the template's first tokens (`<|im_start|>system\\n`) are common, so no two
prompts share a 16-token block. Prefix-aware routing has nothing to gain here and must cost
nothing.

Parameters (defaults): `prompt_min`/`prompt_max` tokens (200/2000; for chat the system
message takes `system_tokens` of them, 32), `output_min`/`output_max` (100/200), `api`
(`chat`, or `completions` for a raw prompt on `/v1/completions`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from loadtests.bench.trace import COMPLETIONS_PATH, TraceRecord
from loadtests.workloads.arrivals import limited, poisson_offsets, require_bound, seeded
from loadtests.workloads.bodies import chat_body, completion_body, message
from loadtests.workloads.interfaces import RunSpec, Workload
from loadtests.workloads.params import check_min, check_range
from loadtests.workloads.text import TextSource


@dataclass(frozen=True)
class NoReuse(Workload):
    name: ClassVar[str] = "no-reuse"

    prompt_min: int = 200
    prompt_max: int = 2000
    system_tokens: int = 32
    output_min: int = 100
    output_max: int = 200
    api: str = "chat"

    def __post_init__(self) -> None:
        check_min("system_tokens", self.system_tokens)
        check_range("prompt", self.prompt_min, self.prompt_max, minimum=self.system_tokens + 1)
        check_range("output", self.output_min, self.output_max)
        if self.api not in ("chat", "completions"):
            raise ValueError(f"api must be chat or completions, got {self.api!r}")

    def records(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]:
        require_bound(run, self.name)
        return limited(self._all(run, text), run)

    def _all(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]:
        rng = seeded(run.seed, "no-reuse")
        for offset in poisson_offsets(seeded(run.seed, "arrivals"), run.rate):
            tokens = rng.randint(self.prompt_min, self.prompt_max)
            max_tokens = rng.randint(self.output_min, self.output_max)
            if self.api == "completions":
                body = completion_body(run.model, text.text(rng, tokens), max_tokens)
                yield TraceRecord(offset, body, path=COMPLETIONS_PATH, tag="no_reuse")
                continue
            messages = [
                message("system", text.text(rng, self.system_tokens)),
                message("user", text.text(rng, tokens - self.system_tokens)),
            ]
            yield TraceRecord(offset, chat_body(run.model, messages, max_tokens), tag="no_reuse")

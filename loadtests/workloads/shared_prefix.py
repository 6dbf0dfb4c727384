"""`shared-prefix`: groups of questions over one long shared prefix each.

The llm-d "KV-cache wins" shape: `groups` groups; every request of a group starts with the
group's prefix (a system prompt, or a document at the start of the user turn) and goes on
with one of the group's `questions` questions. The requests of all groups are shuffled
together (a group's questions keep their order), so groups interleave in arrival order and a
router only wins by sending each group where its prefix is cached.

Parameters (defaults: 150 groups × 5 questions, 6000-token prefixes, 1000-token questions,
100–200 output tokens):
- `groups`, `questions`: groups, and questions per group; the trace has groups × questions
  requests unless `duration`/`count` cut it short;
- `prefix_tokens`: tokens of each group's prefix text (exact);
- `question_tokens`: tokens of each question text (exact);
- `output_min`, `output_max`: `max_tokens` of each request, uniform in the range;
- `prefix_role`: `system` (the prefix is the system message, the question the user message)
  or `user` (one user message: prefix, a blank line, the question).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from loadtests.bench.trace import TraceRecord
from loadtests.workloads.arrivals import limited, poisson_offsets, seeded
from loadtests.workloads.bodies import Message, chat_body, message
from loadtests.workloads.interfaces import RunSpec, Workload
from loadtests.workloads.params import check_min, check_range
from loadtests.workloads.text import TextSource


@dataclass(frozen=True)
class SharedPrefix(Workload):
    name: ClassVar[str] = "shared-prefix"

    groups: int = 150
    questions: int = 5
    prefix_tokens: int = 6000
    question_tokens: int = 1000
    output_min: int = 100
    output_max: int = 200
    prefix_role: str = "system"

    def __post_init__(self) -> None:
        check_min("groups", self.groups)
        check_min("questions", self.questions)
        check_min("prefix_tokens", self.prefix_tokens)
        check_min("question_tokens", self.question_tokens)
        check_range("output", self.output_min, self.output_max)
        if self.prefix_role not in ("system", "user"):
            raise ValueError(f"prefix_role must be system or user, got {self.prefix_role!r}")

    def records(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]:
        return limited(self._all(run, text), run)

    def _all(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]:
        rng = seeded(run.seed, "shared-prefix")
        order = [group for group in range(self.groups) for _ in range(self.questions)]
        rng.shuffle(order)
        prefixes: dict[int, str] = {}  # generated at a group's first request
        asked = [0] * self.groups
        offsets = poisson_offsets(seeded(run.seed, "arrivals"), run.rate)
        for group, offset in zip(order, offsets, strict=False):
            if group not in prefixes:
                prefixes[group] = text.text(rng, self.prefix_tokens)
            prefix = prefixes[group]
            asked[group] += 1
            if asked[group] == self.questions:
                del prefixes[group]  # the group's last question: free its prefix
            question = text.text(rng, self.question_tokens)
            body = chat_body(
                run.model,
                self._messages(prefix, question),
                rng.randint(self.output_min, self.output_max),
            )
            yield TraceRecord(offset=offset, body=body, tag="shared_prefix", group=f"g{group}")

    def _messages(self, prefix: str, question: str) -> list[Message]:
        if self.prefix_role == "system":
            return [message("system", prefix), message("user", question)]
        return [message("user", f"{prefix}\n\n{question}")]

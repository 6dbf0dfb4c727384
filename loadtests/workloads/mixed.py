"""`mixed`: short chats, long-context document questions and low-priority batch summaries.

Each arrival is one of three classes, drawn by weight (`tag` in the trace):
- `chat` (most): a short user message, short reply;
- `long_context`: a question about one of `documents` documents (each `doc_min`–`doc_max`
  tokens, fixed per document) at the start of the user message; documents are picked with
  Zipf popularity — document k (k = 1, 2, …) with weight 1/k^`zipf` — so a few documents are
  asked about often (their prefix is worth caching) and most rarely; `group` is `doc<k-1>`;
- `batch`: "summarize this" over a unique text, `"priority": batch_priority` in the body
  (vLLM: a higher value is scheduled later; the engines need
  `--scheduling-policy priority`, else they reject a non-zero priority) and the header
  `x-kvgate-class: batch`. `batch_priority=0` leaves the field out.

Document sizes default to 8000–30000 tokens: with the question and reply that stays inside
the engines' default 32768-token context.

Parameters (defaults): `chat_weight` 0.7, `long_weight` 0.2, `batch_weight` 0.1;
`chat_min`/`chat_max` 50/500 prompt tokens, `chat_output_min`/`chat_output_max` 50/300;
`documents` 20, `doc_min`/`doc_max` 8000/30000, `zipf` 1.0, `question_min`/`question_max`
50/200, `long_output_min`/`long_output_max` 100/300; `batch_min`/`batch_max` 2000/8000 input
tokens, `batch_output_min`/`batch_output_max` 200/500, `batch_priority` 10.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from loadtests.bench.trace import JSONObject, TraceRecord
from loadtests.workloads.arrivals import limited, poisson_offsets, require_bound, seeded
from loadtests.workloads.bodies import chat_body, message
from loadtests.workloads.interfaces import RunSpec, Workload
from loadtests.workloads.params import check_min, check_range
from loadtests.workloads.text import TextSource

CLASS_HEADER = "x-kvgate-class"
CLASSES = ("chat", "long_context", "batch")
_RANGES = ("chat", "chat_output", "doc", "question", "long_output", "batch", "batch_output")
SUMMARIZE = "Summarize the following text in a few paragraphs.\n\n"


@dataclass(frozen=True)
class Mixed(Workload):
    name: ClassVar[str] = "mixed"

    chat_weight: float = 0.7
    long_weight: float = 0.2
    batch_weight: float = 0.1
    chat_min: int = 50
    chat_max: int = 500
    chat_output_min: int = 50
    chat_output_max: int = 300
    documents: int = 20
    doc_min: int = 8000
    doc_max: int = 30000
    zipf: float = 1.0
    question_min: int = 50
    question_max: int = 200
    long_output_min: int = 100
    long_output_max: int = 300
    batch_min: int = 2000
    batch_max: int = 8000
    batch_output_min: int = 200
    batch_output_max: int = 500
    batch_priority: int = 10

    def __post_init__(self) -> None:
        for name in ("chat_weight", "long_weight", "batch_weight", "zipf"):
            check_min(name, getattr(self, name), 0.0)
        if self.chat_weight + self.long_weight + self.batch_weight <= 0:
            raise ValueError("at least one class weight must be > 0")
        check_min("documents", self.documents)
        for name in _RANGES:
            check_range(name, getattr(self, f"{name}_min"), getattr(self, f"{name}_max"))

    def records(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]:
        require_bound(run, self.name)
        return limited(self._all(run, text), run)

    def _all(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]:
        rng = seeded(run.seed, "mixed")
        docs = _Documents(self, seeded(run.seed, "documents"), text)
        weights = (self.chat_weight, self.long_weight, self.batch_weight)
        for offset in poisson_offsets(seeded(run.seed, "arrivals"), run.rate):
            kind = rng.choices(CLASSES, weights)[0]
            if kind == "chat":
                yield TraceRecord(offset, self._chat(run, rng, text), tag=kind)
            elif kind == "long_context":
                doc = docs.pick(rng)
                body = self._question(run, rng, text, docs.text(doc))
                yield TraceRecord(offset, body, tag=kind, group=f"doc{doc}")
            else:
                body = self._batch(run, rng, text)
                yield TraceRecord(offset, body, headers={CLASS_HEADER: "batch"}, tag=kind)

    def _chat(self, run: RunSpec, rng: random.Random, text: TextSource) -> JSONObject:
        prompt = text.text(rng, rng.randint(self.chat_min, self.chat_max))
        max_tokens = rng.randint(self.chat_output_min, self.chat_output_max)
        return chat_body(run.model, [message("user", prompt)], max_tokens)

    def _question(
        self, run: RunSpec, rng: random.Random, text: TextSource, document: str
    ) -> JSONObject:
        question = text.text(rng, rng.randint(self.question_min, self.question_max))
        max_tokens = rng.randint(self.long_output_min, self.long_output_max)
        return chat_body(run.model, [message("user", f"{document}\n\n{question}")], max_tokens)

    def _batch(self, run: RunSpec, rng: random.Random, text: TextSource) -> JSONObject:
        source = text.text(rng, rng.randint(self.batch_min, self.batch_max))
        max_tokens = rng.randint(self.batch_output_min, self.batch_output_max)
        extra = {"priority": self.batch_priority} if self.batch_priority else {}
        return chat_body(run.model, [message("user", SUMMARIZE + source)], max_tokens, **extra)


class _Documents:
    """The document pool: Zipf popularity; each text made on first use from its own seed."""

    def __init__(self, params: Mixed, rng: random.Random, text: TextSource) -> None:
        self._text = text
        ranks = range(1, params.documents + 1)
        self._cumulative = list(itertools.accumulate(1 / k**params.zipf for k in ranks))
        self._sizes = [rng.randint(params.doc_min, params.doc_max) for _ in ranks]
        self._seeds = [rng.getrandbits(64) for _ in ranks]
        self._texts: dict[int, str] = {}

    def pick(self, rng: random.Random) -> int:
        return rng.choices(range(len(self._sizes)), cum_weights=self._cumulative)[0]

    def text(self, doc: int) -> str:
        if doc not in self._texts:
            self._texts[doc] = self._text.text(random.Random(self._seeds[doc]), self._sizes[doc])
        return self._texts[doc]

"""`multi-turn`: many concurrent chat sessions whose prompts grow turn by turn.

Every session starts with the same system prompt (shared by all sessions). Each turn sends
the whole history so far — system prompt, every earlier user message and assistant reply —
plus a new user message, with an `x-session-id` header naming the session. A turn's prompt
therefore starts with the previous turn's full prompt and its reply.

The replies an engine will generate are unknown when the trace is written, so the history
carries a deterministic placeholder assistant text of exactly the previous turn's
`max_tokens` tokens (with `ignore_eos` the engine generates that many). The engine has
cached the previous prompt, not the placeholder, so a turn can reuse at most the previous
turn's prompt — the same prefix a real client resending real replies would reuse, less the
reply's own blocks.

Arrivals: sessions start as a Poisson process at `rate / turns` per second and send their
turns `think_time` seconds apart on average (exponential; measured send to send, so it
includes the time the reply took), so requests arrive at about `rate` per second overall and
about `rate × think_time` sessions are open at once. The replay is open-loop: a turn is sent
at its offset even if the previous reply has not finished.

Parameters (defaults): `sessions` (200), `turns` per session (5), `system_tokens` (1000),
`user_min`/`user_max` tokens per user message (50/300), `output_min`/`output_max` tokens per
reply (100/300), `think_time` mean seconds between a session's turns (10.0).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from loadtests.bench.trace import TraceRecord
from loadtests.workloads.arrivals import OFFSET_DIGITS, limited, poisson_offsets, seeded
from loadtests.workloads.bodies import Message, chat_body, message
from loadtests.workloads.interfaces import RunSpec, Workload
from loadtests.workloads.params import check_min, check_range
from loadtests.workloads.text import TextSource

SESSION_HEADER = "x-session-id"


@dataclass(frozen=True)
class MultiTurn(Workload):
    name: ClassVar[str] = "multi-turn"

    sessions: int = 200
    turns: int = 5
    system_tokens: int = 1000
    user_min: int = 50
    user_max: int = 300
    output_min: int = 100
    output_max: int = 300
    think_time: float = 10.0

    def __post_init__(self) -> None:
        check_min("sessions", self.sessions)
        check_min("turns", self.turns)
        check_min("system_tokens", self.system_tokens)
        check_range("user", self.user_min, self.user_max)
        check_range("output", self.output_min, self.output_max)
        check_min("think_time", self.think_time, 0.0)

    def records(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]:
        return limited(self._all(run, text), run)

    def _all(self, run: RunSpec, text: TextSource) -> Iterator[TraceRecord]:
        rng = seeded(run.seed, "multi-turn")
        timing = seeded(run.seed, "arrivals")
        system = message("system", text.text(rng, self.system_tokens))
        starts = poisson_offsets(timing, run.rate / self.turns)
        due = [
            (start, session, 0)
            for session, start in zip(range(self.sessions), starts, strict=False)
        ]
        heapq.heapify(due)
        histories: dict[int, list[Message]] = {}  # sessions with turns still to come
        while due:
            offset, session, turn = heapq.heappop(due)
            history = histories.pop(session, [system])
            user_tokens = rng.randint(self.user_min, self.user_max)
            history.append(message("user", text.text(rng, user_tokens)))
            max_tokens = rng.randint(self.output_min, self.output_max)
            session_id = f"s{session}"
            yield TraceRecord(
                offset=offset,
                body=chat_body(run.model, history, max_tokens),
                headers={SESSION_HEADER: session_id},
                tag="multi_turn",
                session=session_id,
            )
            if turn + 1 < self.turns:
                reply = message("assistant", text.text(rng, max_tokens))
                histories[session] = [*history, reply]
                later = round(offset + self._think(timing), OFFSET_DIGITS)
                heapq.heappush(due, (later, session, turn + 1))

    def _think(self, timing: random.Random) -> float:
        return timing.expovariate(1 / self.think_time) if self.think_time > 0 else 0.0

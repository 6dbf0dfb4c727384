"""Extension points of governance: the stage the director calls, sinks and their writers.

- `AuditStage`: what the director asks of governance as a request runs (its span, the
  prompt hash, the model version, the response headers) and, once, at its end (`record`).
- `AuditSink`: one destination of records. `record` is called on the request path and must
  not block or raise: a sink that does I/O queues and owns a task (`QueuedSink` over a
  `BatchWriter`); an inline sink (span attributes) does microseconds of work.
- `BatchWriter`: the I/O half of a queued sink, called by its task only, one batch at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from gateway.discovery.endpoint import Endpoint
from gateway.governance.record import AuditRecord, ModelVersion
from gateway.openai.answer import Answer
from gateway.openai.prompt import Prompt
from gateway.openai.usage import Usage
from gateway.routing.request import InferenceRequest
from gateway.safety.interfaces import GuardVerdict
from gateway.types import ClientCall, RawHeaders


class SinkError(Exception):
    """A batch could not be written (the destination is down, slow or refused it)."""


class RequestFacts(Protocol):
    """What the director learned about one request as its stages ran; read once, at its end.

    Times are event-loop times (`call.received_at`'s clock); None: not reached.
    """

    @property
    def call(self) -> ClientCall: ...
    @property
    def status(self) -> int: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def tenant(self) -> str: ...
    @property
    def model(self) -> str:
        """The bounded model label (an advertised model, else `unknown`)."""
        ...

    @property
    def request(self) -> InferenceRequest | None: ...
    @property
    def prompt(self) -> Prompt | None: ...
    @property
    def prompt_hash(self) -> str | None: ...
    @property
    def engine(self) -> str | None: ...
    @property
    def model_version(self) -> ModelVersion | None: ...
    @property
    def request_class(self) -> str | None: ...
    @property
    def profile(self) -> str | None: ...
    @property
    def predicted_cached_tokens(self) -> int: ...
    @property
    def attempts(self) -> int: ...
    @property
    def sent_at(self) -> float | None: ...
    @property
    def first_chunk_at(self) -> float | None: ...
    @property
    def usage(self) -> Usage | None: ...
    @property
    def answer(self) -> Answer | None: ...
    @property
    def verdicts(self) -> Sequence[GuardVerdict]: ...


class AuditStage(Protocol):
    @property
    def output_sample_bytes(self) -> int:
        """How much of each event stream the relay keeps for the output monitor (0: none)."""
        ...

    def trace(self, call: ClientCall) -> AbstractContextManager[object]:
        """The request's server span, current while the request runs (a no-op when tracing
        is off); `record` is called inside it."""
        ...

    def prompt_hash(self, request: InferenceRequest, prompt: Prompt | None) -> str:
        """SHA-256 hex of the canonical prompt; hashes the text once."""
        ...

    def model_version(self, endpoint: Endpoint, model: str) -> ModelVersion: ...

    def response_headers(
        self, version: ModelVersion | None, prompt_hash: str | None
    ) -> RawHeaders: ...

    def record(self, facts: RequestFacts) -> None:
        """Build the request's one audit record and hand it to every sink; never blocks."""
        ...


class AuditSink(Protocol):
    def record(self, record: AuditRecord) -> None:
        """Accept one record without blocking or raising."""
        ...

    async def start(self) -> None:
        """Start what the sink owns (its task); called once, on the event loop."""
        ...

    async def aclose(self) -> None:
        """Write what is still queued (within the sink's flush deadline), then release."""
        ...


class BatchWriter(Protocol):
    @property
    def name(self) -> str:
        """A short, bounded metric label: `jsonl`, `redis-stream`."""
        ...

    async def write(self, records: Sequence[AuditRecord]) -> None:
        """Write a batch, within the writer's own timeout; raise `SinkError` on failure."""
        ...

    async def aclose(self) -> None: ...

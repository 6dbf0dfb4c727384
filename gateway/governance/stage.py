"""The governance stage: what the director asks of governance while a request runs, and
the one audit record it leaves at its end.

Owns the sinks and the output monitor: `start` them on the event loop, `aclose` them at
shutdown (after the server drained its requests: queued records are written then). The
per-request methods are synchronous and cheap; nothing here does I/O on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager

from gateway.discovery.endpoint import Endpoint
from gateway.governance import fingerprint
from gateway.governance.builder import BuildOptions, build_record
from gateway.governance.interfaces import AuditSink, AuditStage, RequestFacts
from gateway.governance.monitor import MonitorSample, OutputMonitor
from gateway.governance.queued import QueuedSink
from gateway.governance.record import AuditRecord, ModelVersion
from gateway.governance.spans import RequestSpans, current_trace_id
from gateway.governance.stats import GovernanceStats
from gateway.governance.versions import ModelVersions
from gateway.openai.answer import Answer
from gateway.openai.prompt import Prompt
from gateway.routing.request import InferenceRequest
from gateway.types import ClientCall, RawHeaders, RequestKind

MODEL_VERSION_HEADER = b"x-kvgate-model-version"
PROMPT_HASH_HEADER = b"x-kvgate-prompt-hash"
_NO_SPAN = contextlib.nullcontext()


class Governance(AuditStage):
    def __init__(
        self,
        versions: ModelVersions,
        *,
        sinks: Sequence[AuditSink] = (),
        monitor: OutputMonitor | None = None,
        spans: RequestSpans | None = None,
        options: BuildOptions | None = None,
        response_headers: bool = True,
    ) -> None:
        self._versions = versions
        self._sinks = tuple(sinks)
        self._monitor = monitor
        self._spans = spans
        self._options = options or BuildOptions()
        self._headers = response_headers

    @property
    def output_sample_bytes(self) -> int:
        return self._monitor.scan_bytes if self._monitor is not None else 0

    def trace(self, call: ClientCall) -> AbstractContextManager[object]:
        return self._spans.trace(call) if self._spans is not None else _NO_SPAN

    def prompt_hash(self, request: InferenceRequest, prompt: Prompt | None) -> str:
        return fingerprint.prompt_hash(request, prompt)

    def model_version(self, endpoint: Endpoint, model: str) -> ModelVersion:
        return self._versions.resolve(endpoint, model)

    def response_headers(self, version: ModelVersion | None, prompt_hash: str | None) -> RawHeaders:
        if not self._headers:
            return []
        headers = []
        if version is not None:
            headers.append((MODEL_VERSION_HEADER, _header_value(version.label)))
        if prompt_hash is not None:
            headers.append((PROMPT_HASH_HEADER, prompt_hash.encode()))
        return headers

    def record(self, facts: RequestFacts) -> None:
        trace_id = current_trace_id() if self._spans is not None else None
        now = asyncio.get_running_loop().time()
        record = build_record(
            facts, self._options, now=now, wall_now=time.time(), trace_id=trace_id
        )
        for sink in self._sinks:
            sink.record(record)
        if self._monitor is not None:
            sample = _sample(facts, record)
            if sample is not None:
                self._monitor.offer(sample)

    async def start(self) -> None:
        for sink in self._sinks:
            await sink.start()
        if self._monitor is not None:
            await self._monitor.start()

    async def aclose(self) -> None:
        if self._monitor is not None:
            await self._monitor.aclose()
        await asyncio.gather(*(sink.aclose() for sink in self._sinks))
        if self._spans is not None:
            self._spans.shutdown()

    async def drained(self) -> None:
        """Wait until every record so far reached its queued sinks' writers and the monitor."""
        for sink in self._sinks:
            if isinstance(sink, QueuedSink):
                await sink.drained()
        if self._monitor is not None:
            await self._monitor.drained()

    def stats(self) -> GovernanceStats:
        sinks = tuple((s.name, s.stats()) for s in self._sinks if isinstance(s, QueuedSink))
        monitor = self._monitor.stats() if self._monitor is not None else None
        return GovernanceStats(sinks, monitor)


def _sample(facts: RequestFacts, record: AuditRecord) -> MonitorSample | None:
    """What the monitor observes of an answered request (one the engine answered in full, or
    whose answer an output guard cut); None for anything else."""
    version = record.model_version
    if version is None or facts.call.kind is RequestKind.EMBEDDING:
        return None
    verdicts = record.guard_verdicts
    cut = any(v.stage == "output" and v.action == "block" for v in verdicts)
    answer: Answer | None = facts.answer
    if answer is None and cut:
        answer = Answer(("content_filter",))
    if answer is None or not (cut or 200 <= record.status < 300):
        return None
    tokens = record.completion_tokens
    if tokens is None and answer.chunks:
        # About one token per chunk, less `[DONE]` and (chat) the role-only first event.
        tokens = max(0, answer.chunks - 1 - (facts.call.kind is RequestKind.CHAT))
    triggered = any(verdict.action != "allow" for verdict in verdicts)
    return MonitorSample(facts.model, version.label, answer, tokens, triggered)


def _header_value(text: str) -> bytes:
    """A header-safe value: control characters and non-Latin-1 become `?`."""
    if text.isascii() and text.isprintable():
        return text.encode("ascii")
    cleaned = "".join(c if " " <= c <= "~" or "\xa0" <= c <= "\xff" else "?" for c in text)
    return cleaned.encode("latin-1")

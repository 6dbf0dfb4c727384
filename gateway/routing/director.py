"""The story of one request, stage by stage.

auth → parse → safety.input → tokenize → classify (the request keeps the routing runtime
it was classified with) → producers (prefix lookup) → schedule (filters, scorers, picker)
(and record the prompt's prefix on the chosen engine, in the background) → proxy (retry
on another engine before the first byte) → relay (safety.output, usage) → record. Each
stage is one call into its own module; the stages not built yet are pass-through
implementations of their Protocols.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from gateway.auth.interfaces import Authenticator
from gateway.discovery.datastore import EndpointDatastore, EndpointLease
from gateway.errors import GatewayError, UpstreamError, UpstreamUnreachableError
from gateway.governance.interfaces import AuditStage
from gateway.governance.record import ModelVersion
from gateway.observability.metrics import NO_ENGINE, UNKNOWN_MODEL, GatewayMetrics
from gateway.openai.answer import Answer
from gateway.openai.errors import write_error
from gateway.openai.prompt import Prompt
from gateway.openai.request_view import parse_request
from gateway.openai.usage import Usage
from gateway.proxy.client import UpstreamClient
from gateway.proxy.headers import upstream_request_headers
from gateway.proxy.interfaces import ResponseWriter, UpstreamResponse
from gateway.proxy.relay import Relay
from gateway.proxy.retry import RetryPolicy
from gateway.routing.interfaces import PromptBuilder, SchedulingContext
from gateway.routing.locality import PrefixLocality
from gateway.routing.profile import Profile
from gateway.routing.request import InferenceRequest
from gateway.routing.runtime import RoutingRuntime, RuntimeHolder
from gateway.routing.scheduler import Decision, schedule
from gateway.safety.interfaces import GuardVerdict, InputGuard, OutputGuard
from gateway.types import ClientCall, EndpointId, Principal, RequestClass

logger = logging.getLogger(__name__)

CLIENT_CLOSED = 499  # nginx's status for "the client went away first"
SESSION_HEADER = b"x-session-id"
ENGINE_HEADER = b"x-kvgate-engine"
CLASS_HEADER = b"x-kvgate-class"
CACHED_TOKENS_HEADER = b"x-kvgate-cached-tokens"


@dataclass(frozen=True, slots=True)
class Stages:
    """The pluggable stages, in request order; built by the lifespan."""

    auth: Authenticator
    input_guard: InputGuard
    prompts: PromptBuilder
    routing: RuntimeHolder
    """Classifier and profiles; swapped whole when the policy file changes."""
    locality: PrefixLocality
    output_guard: OutputGuard
    audit: AuditStage


@dataclass(slots=True)
class _Report:
    """What the record stage needs, filled in as the stages run."""

    call: ClientCall
    status: int = 500
    model: str = UNKNOWN_MODEL
    engine: str | None = None
    tenant: str = "anonymous"
    first_chunk_at: float | None = None
    usage: Usage | None = None
    predicted_cached_tokens: int = 0
    # What else the audit record needs (`gateway.governance.interfaces.RequestFacts`).
    error_code: str | None = None
    request: InferenceRequest | None = None
    prompt: Prompt | None = None
    prompt_hash: str | None = None
    request_class: RequestClass | None = None
    profile: str | None = None
    model_version: ModelVersion | None = None
    attempts: int = 0
    sent_at: float | None = None
    answer: Answer | None = None
    verdicts: list[GuardVerdict] = field(default_factory=list)


class Director:
    def __init__(
        self,
        stages: Stages,
        datastore: EndpointDatastore,
        upstream: UpstreamClient,
        retry: RetryPolicy,
        metrics: GatewayMetrics,
        *,
        upstream_authorization: bytes | None = None,
    ) -> None:
        self._stages = stages
        self._datastore = datastore
        self._upstream = upstream
        self._retry = retry
        self._metrics = metrics
        self._upstream_authorization = upstream_authorization

    def authenticate(self, authorization: bytes | None) -> Principal:
        """The auth stage alone, for routes that proxy nothing (`/v1/models`)."""
        return self._stages.auth.authenticate(authorization)

    async def serve(self, call: ClientCall, writer: ResponseWriter) -> None:
        """Answer one call on `writer`; every `GatewayError` becomes an OpenAI error response."""
        report = _Report(call)
        with self._stages.audit.trace(call):  # the request's span, when tracing is on
            try:
                await self._serve(call, writer, report)
            except GatewayError as error:
                report.status, report.error_code = error.status_code, error.code
                if writer.started:
                    raise
                await write_error(writer, error, call.request_id)
            except asyncio.CancelledError:
                report.status = CLIENT_CLOSED
                raise
            finally:
                self._record(report)

    async def _serve(self, call: ClientCall, writer: ResponseWriter, report: _Report) -> None:
        s = self._stages
        # auth: before parsing, so a stranger's body is never looked at.
        principal = s.auth.authenticate(call.header(b"authorization"))
        report.tenant = principal.tenant
        # parse once; the body itself travels on unchanged.
        request = parse_request(
            call.kind,
            call.body,
            request_id=call.request_id,
            principal=principal,
            session_id=_header_text(call.header(SESSION_HEADER)),
            headers=call.headers,
        )
        report.request = request
        screened = await s.input_guard.check(request)  # safety.input: block, redact, flag
        report.verdicts.extend(screened.verdicts)
        request = screened.admitted()  # a refusal is raised here: nothing is forwarded
        prompt = await s.prompts.build(request)  # tokenize
        report.request, report.prompt = request, prompt
        report.prompt_hash = s.audit.prompt_hash(request, prompt)  # governance: once
        runtime = s.routing.current  # this request keeps this policy to its end
        request_class = runtime.classifier.classify(request, prompt)  # classify
        profile = runtime.profile_for(request_class)
        report.request_class, report.profile = request_class, profile.name
        started = time.perf_counter()
        # producers: I/O (the prefix-index lookup) before scheduling, never inside it.
        context = await profile.prepare(SchedulingContext(request, prompt, request_class))
        prepared_s = time.perf_counter() - started
        deadline = call.received_at + self._upstream.timeouts.total
        # schedule + proxy, retried on another engine while nothing reached the client.
        lease, upstream, decision = await self._open_upstream(
            call, profile, context, report, deadline, prepared_s
        )
        try:
            # first byte: a refusal put nothing in the engine's cache; forget its record.
            if 200 <= upstream.status < 300:
                if s.locality.recorded(prompt):
                    self._metrics.record_prefix_record(decision.id)
            else:
                s.locality.engine_refused(decision.id, request, prompt, decision.cached_blocks)
            # relay: bytes through, safety.output and usage on the way; `serve` records.
            extra = self._transparency(runtime, decision, request_class, report)
            extra += s.audit.response_headers(report.model_version, report.prompt_hash)
            await self._relay(request, upstream, writer, report, deadline, extra)
        finally:
            lease.release()
            await upstream.aclose()

    def _transparency(
        self,
        runtime: RoutingRuntime,
        decision: Decision,
        request_class: RequestClass,
        report: _Report,
    ) -> list[tuple[bytes, bytes]]:
        if not runtime.response_headers:
            return []
        return [
            (ENGINE_HEADER, decision.id.encode("latin-1", "replace")),
            (CLASS_HEADER, request_class.encode()),
            (CACHED_TOKENS_HEADER, str(report.predicted_cached_tokens).encode()),
        ]

    async def _open_upstream(
        self,
        call: ClientCall,
        profile: Profile,
        context: SchedulingContext,
        report: _Report,
        deadline: float,
        prepared_s: float,
    ) -> tuple[EndpointLease, UpstreamResponse, Decision]:
        """Schedule and send, retrying on another engine while nothing reached the client."""
        request = context.request
        headers = upstream_request_headers(
            call.headers, request_id=call.request_id, authorization=self._upstream_authorization
        )
        tried: frozenset[EndpointId] = frozenset()
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            pool = self._datastore.snapshot()
            decision = schedule(profile, context, pool, tried)
            # The lease is taken in the same step as the decision: the next request's
            # snapshot already counts this one, however fast they arrive.
            lease = self._datastore.lease(decision.id)
            # record: the prompt's prefix will be cached there; in the background, and now
            # rather than at the first byte, so a burst of the same prefix finds it.
            self._stages.locality.engine_chosen(decision.id, request, context.prompt)
            self._metrics.record_decision(
                request_class=context.request_class,
                profile=profile.name,
                engine=decision.id,
                seconds=time.perf_counter() - started + prepared_s,
            )
            prepared_s = 0.0
            served = decision.endpoint.serves(request.model)
            report.model = request.model if served else UNKNOWN_MODEL  # a bounded label
            report.engine, report.attempts = decision.id, attempt
            report.model_version = self._stages.audit.model_version(
                decision.endpoint.endpoint, request.model
            )
            report.predicted_cached_tokens = self._stages.locality.cached_tokens(
                decision.cached_blocks, context.prompt
            )
            tried |= {decision.id}
            may_retry = self._retry.can_retry(attempt) and bool(
                pool.candidates(request.model, exclude=tried)
            )
            report.sent_at = asyncio.get_running_loop().time()
            try:
                upstream = await self._upstream.open(
                    decision.endpoint.endpoint, request, headers, deadline=deadline
                )
            except asyncio.CancelledError:
                lease.release()  # the client left while the engine was still silent
                raise
            except UpstreamError as error:
                lease.release()
                self._refused(decision, context)
                self._upstream_failed(decision.id, error)
                if not (may_retry and self._retry.retryable_error(error)):
                    raise
                self._metrics.record_retry(error.code or "upstream_error")
                continue
            if may_retry and self._retry.retryable_status(upstream.status):
                lease.release()
                self._refused(decision, context)
                await upstream.aclose()
                reason = f"status_{upstream.status}"
                self._metrics.record_upstream_error(decision.id, reason)
                self._metrics.record_retry(reason)
                continue
            return lease, upstream, decision

    async def _relay(
        self,
        request: InferenceRequest,
        upstream: UpstreamResponse,
        writer: ResponseWriter,
        report: _Report,
        deadline: float,
        extra_headers: list[tuple[bytes, bytes]],
    ) -> None:
        inspector = self._stages.output_guard.inspector(request)
        relay = Relay(
            upstream,
            writer,
            request_id=request.request_id,
            idle_s=self._upstream.timeouts.idle,
            deadline=deadline,
            chunk_gaps=self._metrics.chunk_gap_observer(request.model) if request.stream else None,
            inspector=inspector,
            extra_headers=extra_headers,
            output_sample_bytes=self._stages.audit.output_sample_bytes,
        )
        report.status = upstream.status
        try:
            outcome = await relay.run()
        finally:
            report.first_chunk_at = relay.outcome.first_chunk_at
            if inspector is not None:  # safety.output: what the output guards decided
                report.verdicts.extend(inspector.verdicts)
        report.usage, report.answer = outcome.usage, outcome.answer
        if outcome.cut is not None:  # an output guard ended the answer
            report.status, report.error_code = outcome.status, outcome.cut.error.code
        if outcome.failure is not None:
            report.status, report.error_code = outcome.failure.status_code, outcome.failure.code
            self._upstream_failed(report.engine or NO_ENGINE, outcome.failure)

    def _refused(self, decision: Decision, context: SchedulingContext) -> None:
        locality, request = self._stages.locality, context.request
        locality.engine_refused(decision.id, request, context.prompt, decision.cached_blocks)

    def _upstream_failed(self, engine: EndpointId, error: UpstreamError) -> None:
        logger.warning("engine %s failed: %s (%r)", engine, error.message, error.__cause__)
        self._metrics.record_upstream_error(engine, error.code or "upstream_error")
        if isinstance(error, UpstreamUnreachableError):
            self._datastore.mark_unready(engine, reason=error.code or "unreachable")

    def _record(self, report: _Report) -> None:
        call, metrics = report.call, self._metrics
        duration_s = asyncio.get_running_loop().time() - call.received_at
        route = call.kind.route
        engine = report.engine or NO_ENGINE
        metrics.record_request(
            route=route,
            model=report.model,
            status=report.status,
            engine=engine,
            duration_s=duration_s,
        )
        if report.first_chunk_at is not None:
            metrics.record_first_chunk(
                route=route, model=report.model, seconds=report.first_chunk_at - call.received_at
            )
        usage = report.usage
        if usage is not None:
            metrics.record_usage(
                report.model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
            )
            if report.engine is not None:
                metrics.record_cached_tokens(
                    report.engine,
                    predicted=report.predicted_cached_tokens,
                    reported=usage.cached_tokens or 0,
                )
        if report.verdicts:
            metrics.record_guard_verdicts(report.verdicts)
        self._stages.audit.record(report)  # governance: the request's one audit record

    async def refuse(self, call: ClientCall, writer: ResponseWriter, error: GatewayError) -> None:
        """Answer a call rejected before it reached the stages (e.g. a body over the limit)."""
        report = _Report(call, status=error.status_code, error_code=error.code)
        with self._stages.audit.trace(call):
            try:
                await write_error(writer, error, call.request_id)
            finally:
                self._record(report)

    def abandoned(self, call: ClientCall) -> None:
        """Record a call whose client left before its body arrived (nothing is answered)."""
        with self._stages.audit.trace(call):
            self._record(_Report(call, status=CLIENT_CLOSED))


def _header_text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value else None

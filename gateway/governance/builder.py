"""Facts the director gathered → the request's audit record. Pure and synchronous.

Builds in microseconds: a few attribute reads, the sampling parameters picked from the
parsed body, no hashing (the prompt hash was computed once, after tokenizing; only a
request that never got there is hashed here, from its raw prompt).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.governance.fingerprint import prompt_hash, prompt_source, prompt_text
from gateway.governance.interfaces import RequestFacts
from gateway.governance.record import AuditRecord, SamplingValue

CLIENT_CLOSED = 499

SAMPLING_FIELDS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "max_tokens",
    "max_completion_tokens",
    "min_tokens",
    "n",
    "best_of",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "length_penalty",
    "logprobs",
    "top_logprobs",
    "ignore_eos",
    "use_beam_search",
)
"""Body fields recorded when they hold a number or a boolean (vLLM's sampling parameters)."""
_SAMPLING_SET = frozenset(SAMPLING_FIELDS)
_MAX_MODEL_CHARS = 256


@dataclass(frozen=True, slots=True)
class BuildOptions:
    record_prompt_text: bool = False
    prompt_text_max_chars: int = 32768


def build_record(
    facts: RequestFacts,
    options: BuildOptions,
    *,
    now: float,
    wall_now: float,
    trace_id: str | None = None,
) -> AuditRecord:
    """`now` is event-loop time, `wall_now` Unix time, both read at the end of the request."""
    call = facts.call
    received = call.received_at
    request, prompt, usage, answer = facts.request, facts.prompt, facts.usage, facts.answer
    digest = facts.prompt_hash
    if digest is None and request is not None:
        digest = prompt_hash(request, prompt)
    text = None
    if options.record_prompt_text and request is not None:
        text = prompt_text(request, prompt, options.prompt_text_max_chars)
    error_code = facts.error_code
    if error_code is None and facts.status == CLIENT_CLOSED:
        error_code = "client_closed"
    return AuditRecord(
        request_id=call.request_id,
        time=wall_now - (now - received),
        tenant=facts.tenant,
        route=call.kind.route,
        status=facts.status,
        error_code=error_code,
        model_requested=request.model[:_MAX_MODEL_CHARS] if request is not None else None,
        model_served=answer.served_model if answer is not None else None,
        model_version=facts.model_version,
        engine=facts.engine,
        prompt_hash=digest,
        prompt_source=prompt_source(prompt) if digest is not None else None,
        prompt_tokens_gateway=prompt.token_count or None if prompt is not None else None,
        prompt_text=text,
        stream=request.stream if request is not None else False,
        sampling=sampling_parameters(request.fields) if request is not None else None,
        prompt_tokens=usage.prompt_tokens if usage is not None else None,
        completion_tokens=usage.completion_tokens if usage is not None else None,
        cached_tokens=usage.cached_tokens if usage is not None else None,
        request_class=facts.request_class,
        profile=facts.profile,
        predicted_cached_tokens=facts.predicted_cached_tokens,
        attempts=facts.attempts,
        queue_s=None if facts.sent_at is None else facts.sent_at - received,
        ttft_s=None if facts.first_chunk_at is None else facts.first_chunk_at - received,
        total_s=now - received,
        finish_reasons=answer.finish_reasons if answer is not None else (),
        guard_verdicts=tuple(facts.verdicts),
        trace_id=trace_id,
    )


def sampling_parameters(fields: Mapping[str, object]) -> dict[str, SamplingValue]:
    """The numeric and boolean sampling parameters the client set (no strings: a `stop`
    sequence or a tool is request content), in `SAMPLING_FIELDS` order."""
    present = _SAMPLING_SET.intersection(fields)  # a body has few keys: one C-level pass
    picked: dict[str, SamplingValue] = {}
    for name in SAMPLING_FIELDS if present else ():
        if name in present and isinstance(value := fields[name], bool | int | float):
            picked[name] = value
    return picked

"""Running a plan on the engine: SSE chunk strings for streams, a body for the rest.

The engine emits one `RequestOutput` per step per request; the planned text pieces are looked
up by position, so a streamed token costs a slice, a concatenation and a yield. Whatever ends
the consumer — completion, a client disconnect (cancellation), a cut fault — every engine
request not yet finished is aborted on the way out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol

from loadtests.sim.engine.types import EngineRequest, RequestOutput
from loadtests.sim.framing import (
    DONE,
    ChatChunks,
    ChoiceResult,
    CompletionChunks,
    Usage,
    chat_response,
    completion_response,
)
from loadtests.sim.metrics import LoraActivity
from loadtests.sim.output import json_string
from loadtests.sim.prepare import ChoicePlan, GenerationPlan
from loadtests.sim.protocol import SimHTTPError

logger = logging.getLogger(__name__)


class Engine(Protocol):
    """The part of `AsyncEngine` the HTTP layer uses."""

    def submit(self, request: EngineRequest) -> AsyncIterable[RequestOutput]: ...

    def abort(self, request_id: str) -> None: ...


class StreamCut(Exception):
    """Raised inside a streaming body to make the server drop the connection mid-stream."""


@dataclass
class _ChoiceState:
    plan: ChoicePlan
    emitted: int = 0
    submitted: bool = False
    finished: bool = False
    started: bool = False


@dataclass
class Run:
    """One plan in flight; owns its engine requests until they finish or are aborted."""

    engine: Engine
    plan: GenerationPlan
    lora_activity: LoraActivity | None = None
    states: list[_ChoiceState] = field(default_factory=list)
    cached_tokens: int | None = None

    def __post_init__(self) -> None:
        self.states = [_ChoiceState(choice) for choice in self.plan.choices]

    async def outputs(self) -> AsyncGenerator[tuple[_ChoiceState, RequestOutput], None]:
        """Submits every choice and yields outputs as they come; aborts leftovers on exit."""
        lora = self.plan.lora_name
        streams: list[AsyncIterable[RequestOutput]] = []
        try:
            for state in self.states:
                streams.append(self.engine.submit(state.plan.request))
                state.submitted = True
                if lora and self.lora_activity:
                    self.lora_activity.admitted(lora)
            async with aclosing(_merge(streams)) as merged:
                async for index, output in merged:
                    state = self.states[index]
                    if index == 0 and self.cached_tokens is None:
                        self.cached_tokens = output.num_cached_tokens  # choice 0 speaks for all
                    if output.new_token_ids and not state.started:
                        state.started = True
                        if lora and self.lora_activity:
                            self.lora_activity.started(lora)
                    state.finished = output.finished
                    yield state, output
        finally:
            self._release()

    def _release(self) -> None:
        for state in self.states:
            if not state.submitted:
                continue
            if not state.finished:
                self.engine.abort(state.plan.request.request_id)
                state.finished = True
            if self.plan.lora_name and self.lora_activity:
                self.lora_activity.finished(self.plan.lora_name, started=state.started)
        self.lora_activity = None  # released once

    def usage(self) -> Usage:
        completion = sum(state.emitted for state in self.states)
        return Usage(self.plan.prompt_tokens, completion, self.cached_tokens or 0)


def _new_text(state: _ChoiceState, count: int) -> str:
    """The escaped text of the next `count` tokens (plus the echoed prompt before the first)."""
    output = state.plan.output
    start = state.emitted
    state.emitted = start + count
    if count == 1 and not (start == 0 and state.plan.echo_prefix):
        return output.escaped_pieces[start] if start < len(output.escaped_pieces) else '""'
    text = "".join(output.pieces[start : start + count])
    if start == 0 and state.plan.echo_prefix:
        text = state.plan.echo_prefix + text
    return json_string(text)


async def stream(run: Run, *, cut_after_chunks: int | None = None) -> AsyncGenerator[str, None]:
    """SSE events of a streamed chat or completion, ending with `data: [DONE]`."""
    plan = run.plan
    chat = plan.kind == "chat"
    chunks: ChatChunks | CompletionChunks
    if chat:
        chunks = ChatChunks(plan.response_id, plan.created, plan.model)
    else:
        chunks = CompletionChunks(plan.response_id, plan.created, plan.model)
    sent = 0
    first = True
    try:
        async with aclosing(run.outputs()) as outputs:
            async for state, output in outputs:
                count = len(output.new_token_ids)
                if not count and not output.finished:
                    continue  # chunked prefill: vLLM sends no empty chunks
                if first and isinstance(chunks, ChatChunks):
                    for choice in plan.choices:
                        yield chunks.role(choice.index)
                first = False
                if cut_after_chunks is not None and sent >= cut_after_chunks:
                    raise StreamCut(f"cut after {sent} chunks (fault)")
                escaped = _new_text(state, count) if count else '""'
                index = state.plan.index
                if output.finished:
                    reason = output.finish_reason or "stop"
                    stop_reason = state.plan.output.stop_reason if reason == "stop" else None
                    yield chunks.finish(index, escaped, reason, stop_reason)
                else:
                    yield chunks.token(index, escaped)
                sent += 1
        if plan.include_usage:
            yield chunks.usage(run.usage())
    except (StreamCut, asyncio.CancelledError):
        raise
    except Exception as exc:  # the ASGI boundary of a body already started: report in-band
        logger.exception("stream %s failed", plan.response_id)
        yield f"data: {SimHTTPError(500, str(exc)).body().decode()}\n\n"
    yield DONE


async def complete(run: Run) -> dict[str, object]:
    """The non-streamed body, once every choice has finished."""
    reasons: dict[int, str] = {}
    async with aclosing(run.outputs()) as outputs:
        async for state, output in outputs:
            state.emitted += len(output.new_token_ids)
            if output.finished:
                reasons[state.plan.index] = output.finish_reason or "stop"
    results = [_result(state, reasons.get(state.plan.index, "abort")) for state in run.states]
    plan = run.plan
    build = chat_response if plan.kind == "chat" else completion_response
    return build(plan.response_id, plan.created, plan.model, results, run.usage())


def _result(state: _ChoiceState, reason: str) -> ChoiceResult:
    output = state.plan.output
    text = state.plan.echo_prefix + "".join(output.pieces[: state.emitted])
    stop_reason = output.stop_reason if reason == "stop" else None
    return ChoiceResult(state.plan.index, text, reason, stop_reason)


async def _merge(
    streams: Sequence[AsyncIterable[RequestOutput]],
) -> AsyncGenerator[tuple[int, RequestOutput], None]:
    """Outputs of several streams in arrival order, tagged with the stream's index."""
    if len(streams) == 1:
        async for output in streams[0]:
            yield 0, output
        return
    iterators = [aiter(source) for source in streams]
    pending: dict[asyncio.Future[RequestOutput], int] = {
        asyncio.ensure_future(anext(iterator)): index for index, iterator in enumerate(iterators)
    }
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                try:
                    output = future.result()
                except StopAsyncIteration:
                    continue
                pending[asyncio.ensure_future(anext(iterators[index]))] = index
                yield index, output
    finally:
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

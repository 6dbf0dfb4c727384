"""From a parsed request to a generation plan: tokenize, validate the context, plan outputs.

Everything the engine and the response need is decided here, before submission: the engine
requests (one per choice; `n` choices per prompt share the prompt), their planned outputs,
the response id, `created` and the model name every chunk will carry.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gateway.tokenize import ChatTemplate, Tokenizer
from gateway.tokenize.chat_template import message_text
from loadtests.sim.engine.types import EngineRequest
from loadtests.sim.models import ResolvedModel
from loadtests.sim.output import (
    OutputPlanner,
    OutputRequest,
    PlannedOutput,
    content_seed,
    default_max_tokens,
)
from loadtests.sim.protocol import (
    ChatRequest,
    CompletionRequest,
    JSONObject,
    Prompt,
    Sampling,
    SimHTTPError,
    bad_request,
)


@dataclass(frozen=True)
class ChoicePlan:
    index: int
    request: EngineRequest
    output: PlannedOutput
    echo_prefix: str = ""  # completions `echo`: the prompt text sent before the first token


@dataclass(frozen=True)
class GenerationPlan:
    kind: Literal["chat", "completion"]
    response_id: str
    created: int
    model: str
    lora_name: str | None
    prompt_tokens: int  # all prompts, each counted once however many choices share it
    choices: tuple[ChoicePlan, ...]
    stream: bool
    include_usage: bool


@dataclass(frozen=True)
class PromptLimits:
    max_model_len: int
    vocab_size: int
    priority_scheduling: bool
    long_prompt_chars: int


class Preparer:
    """Turns parsed requests into plans; shared by all requests, immutable."""

    def __init__(
        self,
        *,
        tokenizer: Tokenizer,
        template: ChatTemplate,
        planner: OutputPlanner,
        limits: PromptLimits,
        seed: int,
        echo: bool,
    ) -> None:
        self._tokenizer = tokenizer
        self._template = template
        self._planner = planner
        self._limits = limits
        self._seed = seed
        self._echo = echo
        self._sequence = itertools.count()  # keeps engine ids unique if X-Request-Id repeats

    async def encode(self, text: str) -> list[int]:
        """Token ids of `text`; long texts are tokenized in a worker thread."""
        if len(text) >= self._limits.long_prompt_chars:
            return await asyncio.to_thread(self._tokenizer.encode, text)
        return self._tokenizer.encode(text)

    def render(
        self,
        messages: Sequence[JSONObject],
        tools: Sequence[object] | None,
        *,
        add_generation_prompt: bool,
    ) -> str:
        return self._template.render(
            messages, tools=tools, add_generation_prompt=add_generation_prompt
        )

    def check_token_ids(self, token_ids: Sequence[int]) -> None:
        if token_ids and max(token_ids) >= self._limits.vocab_size:
            raise bad_request(f"Token id {max(token_ids)} is out of vocabulary")

    async def chat(
        self, request: ChatRequest, model: ResolvedModel, response_id: str
    ) -> GenerationPlan:
        text = self.render(
            request.messages, request.tools, add_generation_prompt=request.add_generation_prompt
        )
        prompt_ids = await self.encode(text)
        echo_ids: list[int] = []
        if self._echo:
            echo_ids = await self.encode(message_text(request.messages[-1].get("content")))
        choices = self._choices(request.sampling, model, response_id, [(prompt_ids, echo_ids, "")])
        return self._plan("chat", request.sampling, model, response_id, len(prompt_ids), choices)

    async def completion(
        self, request: CompletionRequest, model: ResolvedModel, response_id: str
    ) -> GenerationPlan:
        prompts: list[tuple[list[int], list[int], str]] = []
        for prompt in request.prompts:
            ids, text = await self._prompt(prompt, need_text=request.echo)
            prompts.append((ids, ids if self._echo else [], text if request.echo else ""))
        choices = self._choices(request.sampling, model, response_id, prompts)
        total = sum(len(ids) for ids, _, _ in prompts)
        return self._plan("completion", request.sampling, model, response_id, total, choices)

    async def _prompt(self, prompt: Prompt, *, need_text: bool) -> tuple[list[int], str]:
        if isinstance(prompt, str):
            return await self.encode(prompt), prompt
        ids = list(prompt)
        self.check_token_ids(ids)
        return ids, self._tokenizer.decode(ids) if need_text else ""

    def _choices(
        self,
        sampling: Sampling,
        model: ResolvedModel,
        response_id: str,
        prompts: Sequence[tuple[list[int], list[int], str]],
    ) -> tuple[ChoicePlan, ...]:
        if sampling.priority != 0 and not self._limits.priority_scheduling:
            raise bad_request(
                f"Got priority {sampling.priority} but Priority scheduling is not enabled.",
                "priority",
            )
        choices: list[ChoicePlan] = []
        tag = next(self._sequence)
        for prompt_index, (prompt_ids, echo_ids, echo_text) in enumerate(prompts):
            if not prompt_ids:
                raise bad_request("The decoder prompt cannot be empty.", "prompt")
            max_tokens = self._max_tokens(len(prompt_ids), sampling.max_tokens)
            base_seed = sampling.seed
            if base_seed is None:
                base_seed = content_seed(prompt_ids, self._seed)
            for i in range(sampling.n):
                index = prompt_index * sampling.n + i
                output = self._planner.plan(
                    OutputRequest(
                        prompt_token_ids=prompt_ids,
                        max_tokens=max_tokens,
                        seed=base_seed + i,
                        min_tokens=sampling.min_tokens,
                        ignore_eos=sampling.ignore_eos,
                        stop=sampling.stop,
                        echo_token_ids=echo_ids,
                    )
                )
                engine_request = EngineRequest(
                    request_id=f"{response_id}-{tag}-{index}",
                    prompt_token_ids=prompt_ids,
                    output_token_ids=output.token_ids,
                    finish_reason=output.finish_reason,
                    priority=sampling.priority,
                    cache_salt=sampling.cache_salt,
                    lora_name=model.lora.name if model.lora else None,
                    lora_id=model.lora.lora_id if model.lora else None,
                )
                choices.append(ChoicePlan(index, engine_request, output, echo_text))
        return tuple(choices)

    def _max_tokens(self, prompt_tokens: int, requested: int | None) -> int:
        limit = self._limits.max_model_len
        wanted = requested if requested is not None else 1
        if prompt_tokens + wanted > limit:
            raise SimHTTPError(
                400,
                f"You passed {prompt_tokens} input tokens and requested {wanted} output "
                f"tokens. However, the model's context length is only {limit} tokens, "
                f"resulting in a maximum input length of {max(0, limit - wanted)} tokens. "
                "Please reduce the length of the input prompt.",
                param="input_tokens",
            )
        if requested is not None:
            return requested
        return default_max_tokens(limit, prompt_tokens)

    @staticmethod
    def _plan(
        kind: Literal["chat", "completion"],
        sampling: Sampling,
        model: ResolvedModel,
        response_id: str,
        prompt_tokens: int,
        choices: tuple[ChoicePlan, ...],
    ) -> GenerationPlan:
        return GenerationPlan(
            kind=kind,
            response_id=response_id,
            created=int(time.time()),
            model=model.name,
            lora_name=model.lora.name if model.lora else None,
            prompt_tokens=prompt_tokens,
            choices=choices,
            stream=sampling.stream,
            include_usage=sampling.include_usage,
        )

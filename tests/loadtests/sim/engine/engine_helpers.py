"""Shared builders for the engine tests: requests, cores, and a synchronous run loop."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.tokenize import load_tokenizer
from loadtests.sim.engine.config import EngineConfig
from loadtests.sim.engine.core import EngineCore
from loadtests.sim.engine.types import EngineRequest, KVEventBatch, RequestOutput, StepStats

SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the riverbank at dawn.",
    "Prefix caching reuses the KV cache of shared prompt prefixes across requests.",
    "Continuous batching lets new requests join the running batch at every step.",
    "A router that knows which engine holds a prefix can skip most of the prefill.",
)


def random_tokens(n: int, seed: int) -> list[int]:
    """`n` token ids drawn from a Qwen-sized vocabulary, reproducibly."""
    rng = random.Random(seed)
    return [rng.randrange(100, 151_000) for _ in range(n)]


def text_tokens(n: int, seed: int = 0) -> list[int]:
    """`n` real BPE token ids of English prose (the gateway's Qwen tokenizer)."""
    tokenizer = load_tokenizer("qwen2.5")
    rng = random.Random(seed)
    ids: list[int] = []
    while len(ids) < n:
        ids.extend(tokenizer.encode(" " + rng.choice(SENTENCES)))
    return ids[:n]


def make_request(
    request_id: str,
    prompt: Sequence[int],
    num_output: int = 4,
    *,
    seed: int = 1,
    **fields: object,
) -> EngineRequest:
    return EngineRequest(
        request_id=request_id,
        prompt_token_ids=list(prompt),
        output_token_ids=random_tokens(num_output, seed),
        **fields,  # type: ignore[arg-type]
    )


def make_core(profile: str = "tiny", **overrides: object) -> tuple[EngineCore, list[KVEventBatch]]:
    """A core whose KV event batches land in the returned list."""
    batches: list[KVEventBatch] = []
    config = EngineConfig.from_profile_name(profile, **overrides)
    return EngineCore(config, batches.append), batches


@dataclass
class Run:
    """Everything a synchronous run produced, step by step."""

    now: float = 0.0
    steps: list[StepStats] = field(default_factory=list)
    outputs: list[list[RequestOutput]] = field(default_factory=list)  # per step

    def tokens(self, request_id: str) -> list[int]:
        return [
            t
            for step in self.outputs
            for o in step
            if o.request_id == request_id
            for t in o.new_token_ids
        ]

    def final(self, request_id: str) -> RequestOutput:
        return next(
            o for step in self.outputs for o in step if o.request_id == request_id and o.finished
        )

    def step_of_first_token(self, request_id: str) -> int:
        return next(
            i
            for i, step in enumerate(self.outputs)
            if any(o.request_id == request_id and o.new_token_ids for o in step)
        )

    def producers(self, index: int) -> set[str]:
        return {o.request_id for o in self.outputs[index] if o.new_token_ids}


def run(
    core: EngineCore, *, start: float = 0.0, into: Run | None = None, max_steps: int = 100_000
) -> Run:
    """Step `core` in simulated time until it has no work left (appending to `into`)."""
    result = into or Run(now=start)
    for _ in range(max_steps):
        if not core.has_work():
            return result
        step = core.step(result.now)
        result.now += step.duration
        result.steps.append(step.stats)
        result.outputs.append(step.outputs)
    raise AssertionError(f"engine still busy after {max_steps} steps")


def run_steps(core: EngineCore, n: int, run_: Run | None = None) -> Run:
    """Exactly `n` more steps (appended to `run_` if given)."""
    result = run_ or Run()
    for _ in range(n):
        step = core.step(result.now)
        result.now += step.duration
        result.steps.append(step.stats)
        result.outputs.append(step.outputs)
    return result

"""What the safety guards add to a request: the input stage per prompt size, and the output
inspection per streamed chunk.

Input: a chat request whose user message has exactly N tokens (qwen2.5 vocabulary) goes
through the input stage of the shipped policy (`policies/safety.yaml`: tenant allow-list,
prompt injection, PII redaction), in process — the same `PolicyInputGuard.check` the director
awaits. Each guard is also timed alone. English prompts are the benchmark's usual prose
(`TextSource`); Chinese ones are benign sentences drawn at random to the same token count.
Text is scanned fresh for every request (nothing is cached between requests).

Output: a vLLM-framed chat stream of one token per event goes through the shipped output
guards (`ResponseInspector.observe`); the cost per chunk is the mean over a long answer.

Times are wall-clock, in ms (µs per chunk). Run: `python -m loadtests.bench.guards_cost
[--sizes 100,2000,32000] [--iterations 50] [--langs en,zh]`.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from gateway.openai.request_view import parse_request
from gateway.routing.request import InferenceRequest
from gateway.safety.base import GuardDeps
from gateway.safety.defaults import default_safety_policy
from gateway.safety.inspector import ResponseInspector
from gateway.safety.registry import builtin_guards
from gateway.safety.runtime import GuardProfile, SafetyRuntime, build_safety_runtime
from gateway.safety.screening import PolicyInputGuard
from gateway.safety.texts import request_segments
from gateway.types import RequestKind
from loadtests.bench.stats import Summary
from loadtests.workloads.text import TextSource

MODEL = "Qwen/Qwen2.5-7B-Instruct"
_ZH_SENTENCES = (
    "请解释一下TCP和UDP的区别。",
    "这个函数的时间复杂度是多少？",
    "我们下周要发布新版本，需要整理一下更新日志。",
    "帮我把这段话翻译成英文，语气要正式一些。",
    "数据库的索引应该怎么设计才能提高查询速度？",
    "今天的会议主要讨论了第三季度的销售目标。",
    "这篇文章的结构还需要调整，第二段有些啰嗦。",
    "请给出三个改进用户体验的建议。",
    "缓存失效以后，请求会直接打到后端服务上。",
    "春天到了，公园里的花都开了，很多人出来散步。",
)


@dataclass(frozen=True)
class InputRow:
    lang: str
    tokens: int
    chars: int
    stage: Summary
    guards: dict[str, Summary]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="100,2000,32000", help="prompt tokens, comma-sep")
    parser.add_argument("--iterations", type=int, default=50, help="requests per size")
    parser.add_argument("--langs", default="en,zh")
    parser.add_argument("--chunks", type=int, default=2000, help="streamed chunks measured")


def _runtime() -> SafetyRuntime:
    return build_safety_runtime(default_safety_policy(), builtin_guards(), GuardDeps())


def _chinese(source: TextSource, rng: random.Random, tokens: int) -> str:
    parts: list[str] = []
    count = 0
    while count < tokens:
        sentence = rng.choice(_ZH_SENTENCES)
        parts.append(sentence)
        count += source.count(sentence)
    text = "".join(parts)
    while source.count(text) > tokens:
        text = text[:-1]
    return text


def _request(text: str) -> InferenceRequest:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 64}
    return parse_request(RequestKind.CHAT, orjson.dumps(body), request_id=uuid.uuid4().hex)


async def _measure_input(
    profile: GuardProfile, guard: PolicyInputGuard, texts: Sequence[str]
) -> tuple[Summary, dict[str, Summary]]:
    stage: list[float] = []
    per_guard: dict[str, list[float]] = {g.name: [] for g in profile.local}
    for index, text in enumerate(texts):
        request = _request(text)
        started = time.perf_counter()
        decision = await guard.check(request)
        elapsed = (time.perf_counter() - started) * 1000
        if decision.refusal is not None:
            raise RuntimeError(f"the benchmark prompt was refused: {decision.verdicts}")
        segments = request_segments(request)  # fresh text facts: nothing cached
        for local in profile.local:
            started = time.perf_counter()
            local.check(request, segments)
            if index >= 3:
                per_guard[local.name].append((time.perf_counter() - started) * 1000)
        if index >= 3:  # the first ones warm regex caches and the tokenizer
            stage.append(elapsed)
    return Summary.of(stage), {name: Summary.of(s) for name, s in per_guard.items()}


def measure_input(sizes: Sequence[int], iterations: int, langs: Sequence[str]) -> list[InputRow]:
    runtime = _runtime()
    profile = runtime.profile_for("anonymous", MODEL)
    guard = PolicyInputGuard(lambda: runtime)
    source = TextSource.default()
    rows = []
    for lang in langs:
        for tokens in sizes:
            rng = random.Random(tokens)
            count = iterations + 3
            if lang == "en":
                texts = [source.text(rng, tokens) for _ in range(count)]
            else:
                texts = [_chinese(source, rng, tokens) for _ in range(count)]
            stage, guards = asyncio.run(_measure_input(profile, guard, texts))
            rows.append(InputRow(lang, tokens, len(texts[0]), stage, guards))
    return rows


def measure_chunks(chunks: int) -> Summary:
    """µs per streamed chunk: each chunk one event carrying one token of text."""
    runtime = _runtime()
    scanners = runtime.profile_for("anonymous", MODEL).output
    source = TextSource.default()
    words = source.text(random.Random(7), chunks).split(" ")
    events: list[bytes] = []
    for word in words[:chunks]:
        delta = {"content": " " + word}
        document = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
        }
        events.append(b"data: " + orjson.dumps(document) + b"\n\n")
    samples: list[float] = []
    for _ in range(5):
        inspector = ResponseInspector(scanners, chat=True)
        started = time.perf_counter()
        for event in events:
            inspector.observe(event)
        samples.append((time.perf_counter() - started) * 1e6 / len(events))
    return Summary.of(samples)


def render(rows: Sequence[InputRow], chunk: Summary) -> str:
    names = list(rows[0].guards) if rows else []
    lines = [
        "| prompt | tokens | chars | input stage p50 / p99 ms | "
        + " | ".join(f"{name} p50 ms" for name in names)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(names),
    ]
    for row in rows:
        cells = [f"{row.guards[name].p50:.3f}" for name in names]
        lines.append(
            f"| {row.lang} | {row.tokens} | {row.chars} | {row.stage.p50:.3f} / "
            f"{row.stage.p99:.3f} | " + " | ".join(cells) + " |"
        )
    lines.append("")
    lines.append(f"Output guards per streamed chunk: {chunk.p50:.1f} µs (p50 of 5 runs)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    langs = [lang for lang in args.langs.split(",") if lang]
    rows = measure_input(sizes, args.iterations, langs)
    chunk = measure_chunks(args.chunks)
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"# safety guard cost ({python}, shipped policy, {args.iterations} requests per size)")
    print(render(rows, chunk))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="guards_cost", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()

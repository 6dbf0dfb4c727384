"""What one routing decision costs the gateway: tokenize + hash, prefix lookup, scoring.

A chat request of each prompt size (exact token counts, qwen2.5 vocabulary, chatml) is
routed through the gateway's own stages, in process, against a warm prefix index (memory,
or Redis on a local server) and a pool of `--engines` engines:

- `tokenize+hash`: `TokenizingPromptBuilder.build` — render the chat template, tokenize
  (off the event loop from 4 KiB of text on), chain the block hashes;
- `lookup`: the profile's producers — one prefix-index match;
- `score`: the pool snapshot's filters, weighted scorers and picker (`schedule`);
- `decision`: the three together, what a request waits before its engine is known;
- `record`: the approximate-mode write after the engine's first byte (not part of the
  decision, but on the request path).

Half the sizes' requests hit a prefix some engine holds (the same document, another
question), so lookups walk real matches. Times are wall-clock per request, in ms.

Run: `python -m loadtests.bench.routing_cost [--sizes 100,2000,8000,32000] [--backends
memory,redis] [--iterations 50]`.
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

from gateway.config.defaults import default_policy
from gateway.discovery.endpoint import Endpoint
from gateway.openai.request_view import parse_request
from gateway.plugins.base import PluginDeps
from gateway.plugins.registry import builtin_registry
from gateway.prefix.interfaces import PrefixIndex
from gateway.prefix.memory import MemoryPrefixIndex
from gateway.prefix.redis_index import RedisIndexConfig, RedisPrefixIndex
from gateway.routing.interfaces import SchedulingContext
from gateway.routing.locality import PrefixLocality
from gateway.routing.prompt_builder import TokenizingPromptBuilder
from gateway.routing.request import InferenceRequest
from gateway.routing.runtime import build_runtime
from gateway.routing.scheduler import schedule
from gateway.routing.snapshot import EndpointSnapshot, PoolSnapshot
from gateway.types import RequestKind
from loadtests.bench.stats import Summary
from loadtests.redis_server import RedisServer
from loadtests.workloads.text import TextSource

MODEL = "Qwen/Qwen2.5-7B-Instruct"
STAGES = ("tokenize+hash", "lookup", "score", "decision", "record")


@dataclass(frozen=True)
class Row:
    backend: str
    tokens: int
    profile: str
    stages: dict[str, Summary]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="100,2000,8000,32000", help="prompt tokens, comma-sep")
    parser.add_argument("--backends", default="memory,redis")
    parser.add_argument("--iterations", type=int, default=50, help="requests per size")
    parser.add_argument("--engines", type=int, default=8)
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")


def _pool(engines: int) -> PoolSnapshot:
    rng = random.Random(1)
    return PoolSnapshot(
        tuple(
            EndpointSnapshot(
                Endpoint(f"10.0.0.{i}:8000", f"http://10.0.0.{i}:8000"),
                frozenset({MODEL}),
                ready=True,
                in_flight=rng.randint(0, 8),
                num_waiting=rng.randint(0, 2),
                num_running=rng.randint(0, 16),
                kv_usage=rng.random() * 0.7,
                recent_requests=rng.random() * 50,
            )
            for i in range(engines)
        )
    )


def _request(document: str, question: str) -> InferenceRequest:
    messages = [{"role": "system", "content": document}, {"role": "user", "content": question}]
    body = orjson.dumps({"model": MODEL, "messages": messages, "max_tokens": 64, "stream": True})
    return parse_request(RequestKind.CHAT, body, request_id=uuid.uuid4().hex)


async def _warm(index: PrefixIndex, pool: PoolSnapshot, rng: random.Random) -> None:
    """Fill every engine with unrelated prompts, as a serving index would be."""
    for snap in pool.endpoints:
        for _ in range(200):
            start = rng.getrandbits(62)
            await index.record(snap.id, MODEL, [start + i for i in range(64)])


async def _route_size(
    backend: str,
    index: PrefixIndex,
    pool: PoolSnapshot,
    builder: TokenizingPromptBuilder,
    text: TextSource,
    tokens: int,
    iterations: int,
) -> Row:
    runtime = build_runtime(default_policy(), builtin_registry(), PluginDeps(index, 16, seed=1))
    locality = PrefixLocality(index, block_size=16, record=True)
    rng = random.Random(tokens)
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    document = text.text(rng, max(1, tokens - 30))
    profile_name = ""
    for i in range(iterations + 3):  # the first three warm the tokenizer and connections
        # Every other request asks about a new document (a miss), the rest about the last.
        if i % 2 == 0:
            document = text.text(rng, max(1, tokens - 30))
        request = _request(document, text.text(rng, 20))
        started = time.perf_counter()
        prompt = await builder.build(request)
        tokenized = time.perf_counter()
        request_class = runtime.classifier.classify(request, prompt)
        profile = runtime.profile_for(request_class)
        profile_name = profile.name
        context = await profile.prepare(SchedulingContext(request, prompt, request_class))
        looked_up = time.perf_counter()
        decision = schedule(profile, context, pool)
        decided = time.perf_counter()
        await locality.engine_accepted(decision.id, request, prompt)
        recorded = time.perf_counter()
        if i < 3:
            continue
        for stage, seconds in zip(
            STAGES,
            (
                tokenized - started,
                looked_up - tokenized,
                decided - looked_up,
                decided - started,
                recorded - decided,
            ),
            strict=True,
        ):
            samples[stage].append(seconds * 1000)
    return Row(backend, tokens, profile_name, {s: Summary.of(v) for s, v in samples.items()})


async def _index(backend: str, redis_url: str | None) -> PrefixIndex:
    if backend == "memory":
        return MemoryPrefixIndex()
    if redis_url is None:
        raise ValueError("redis backend needs a URL")
    config = RedisIndexConfig(key_prefix=f"kvgate-bench-{uuid.uuid4().hex[:8]}")
    return RedisPrefixIndex.from_url(redis_url, config)


async def measure(
    backends: Sequence[str],
    sizes: Sequence[int],
    iterations: int,
    engines: int,
    redis_url: str | None,
) -> list[Row]:
    text = TextSource.default()
    builder = TokenizingPromptBuilder()
    pool = _pool(engines)
    rows: list[Row] = []
    try:
        for backend in backends:
            index = await _index(backend, redis_url)
            try:
                await _warm(index, pool, random.Random(0))
                for tokens in sizes:
                    rows.append(
                        await _route_size(backend, index, pool, builder, text, tokens, iterations)
                    )
            finally:
                await index.close()
    finally:
        builder.close()
    return rows


def render(rows: Sequence[Row]) -> str:
    lines = [
        "| backend | prompt tokens | profile | "
        + " | ".join(f"{stage} p50 / p99 ms" for stage in STAGES)
        + " |",
        "|---|---:|---|" + "---:|" * len(STAGES),
    ]
    for row in rows:
        cells = [f"{row.stages[s].p50:.3f} / {row.stages[s].p99:.3f}" for s in STAGES]
        lines.append(
            f"| {row.backend} | {row.tokens} | {row.profile} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    backends = [b for b in args.backends.split(",") if b]
    sizes = [int(s) for s in args.sizes.split(",") if s]

    def measure_with(url: str | None) -> list[Row]:
        return asyncio.run(measure(backends, sizes, args.iterations, args.engines, url))

    if "redis" in backends and args.redis_url is None:
        with RedisServer() as server:
            rows = measure_with(server.url)
    else:
        rows = measure_with(args.redis_url)
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"# routing decision cost ({python}, {args.engines} engines, ", end="")
    print(f"{args.iterations} requests per size)")
    print(render(rows))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="routing_cost", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()

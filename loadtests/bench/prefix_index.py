"""The prefix index's cost per request: hashing, match and record, memory vs Redis.

For each prompt size, a warm index (several endpoints, each holding many recorded prompts)
is timed one operation at a time:
- `hash`: block hashes of the prompt's token ids;
- `match-hit`: a prompt two endpoints hold entirely and the others in part;
- `match-miss`: a prompt nobody holds (the walk stops at the first block);
- `record-new`: a prompt the endpoint never held (every block written);
- `record-again`: the same prompt recorded again right after (Redis: coalesced locally,
  nothing sent).
Redis is a local server started for the run (`--redis-url` to use another), on loopback,
so its numbers are round trip + server time without network distance; `server µs` is the
mean time the server spent in the script per call (its command stats), so the rest is
client CPU and the loopback round trip; `record-again` sends nothing to Redis.

Run: `python -m loadtests.bench.prefix_index [--sizes 100,2000,8000,32000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from redis.asyncio import Redis

from gateway.prefix.hashing import block_hashes, prefix_seed
from gateway.prefix.interfaces import PrefixIndex
from gateway.prefix.memory import MemoryPrefixIndex
from gateway.prefix.redis_index import RedisIndexConfig, RedisPrefixIndex
from loadtests.bench.stats import Summary
from loadtests.redis_server import RedisServer

MODEL = "Qwen/Qwen2.5-7B-Instruct"
VOCAB = 151_000
SEED = prefix_seed(MODEL)


@dataclass(frozen=True)
class Row:
    backend: str
    tokens: int
    blocks: int
    op: str
    us: Summary
    server_us: float | None = None  # Redis: mean script time per call, inside the server


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="100,2000,8000,32000", help="prompt tokens, comma-sep")
    parser.add_argument("--backends", default="memory,redis")
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--warm-prompts", type=int, default=100, help="recorded per endpoint")
    parser.add_argument("--iterations", type=int, default=300, help="timed calls per op")
    parser.add_argument("--redis-url", default=None, help="default: start a local server")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write JSON results here")


def run(args: argparse.Namespace) -> int:
    sizes = [int(size) for size in args.sizes.split(",")]
    backends = args.backends.split(",")
    with _redis_url(args.redis_url, "redis" in backends) as url:
        rows = asyncio.run(_measure(args, sizes, backends, url))
    print(_table(rows))
    if args.out is not None:
        args.out.write_text(json.dumps([asdict(row) for row in rows], indent=2))
    return 0


@contextmanager
def _redis_url(given: str | None, needed: bool) -> Iterator[str]:
    if given or not needed:
        yield given or ""
        return
    with RedisServer() as server:
        yield server.url


async def _measure(
    args: argparse.Namespace, sizes: Sequence[int], backends: Sequence[str], url: str
) -> list[Row]:
    rng = random.Random(args.seed)
    rows: list[Row] = []
    for size in sizes:
        rows.append(_time_hashing(rng, size, args.iterations))
        for backend in backends:
            index = _make_index(backend, url)
            raw = Redis.from_url(url) if backend == "redis" else None
            try:
                rows += await _time_index(index, backend, rng, size, args, raw)
            finally:
                await index.close()
                if raw is not None:
                    await raw.aclose()
    return rows


def _make_index(backend: str, url: str) -> PrefixIndex:
    if backend == "memory":
        return MemoryPrefixIndex()
    if backend == "redis":
        config = RedisIndexConfig(key_prefix=f"bench-{uuid.uuid4().hex[:8]}")
        return RedisPrefixIndex.from_url(url, config)
    raise ValueError(f"unknown backend {backend!r}")


def _prompt(rng: random.Random, size: int) -> list[int]:
    return [rng.randrange(VOCAB) for _ in range(size)]


def _time_hashing(rng: random.Random, size: int, iterations: int) -> Row:
    prompts = [_prompt(rng, size) for _ in range(min(iterations, 50))]
    samples = []
    for i in range(iterations):
        tokens = prompts[i % len(prompts)]
        start = time.perf_counter_ns()
        block_hashes(tokens, seed=SEED)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return Row("-", size, size // 16, "hash", Summary.of(samples))


async def _time_index(
    index: PrefixIndex,
    backend: str,
    rng: random.Random,
    size: int,
    args: argparse.Namespace,
    raw: Redis | None,
) -> list[Row]:
    endpoints = [f"10.0.0.{n}:8000" for n in range(args.endpoints)]
    for endpoint in endpoints:
        for _ in range(args.warm_prompts):
            await index.record(endpoint, MODEL, block_hashes(_prompt(rng, size), seed=SEED))
    shared = [block_hashes(_prompt(rng, size), seed=SEED) for _ in range(20)]
    for hashes in shared:
        for n, endpoint in enumerate(endpoints):
            await index.record(endpoint, MODEL, hashes if n < 2 else hashes[: len(hashes) // 2])
    fresh = [block_hashes(_prompt(rng, size), seed=SEED) for _ in range(args.iterations)]
    iterations = args.iterations
    blocks = size // 16

    async def timed(op: str, call: Callable[[int], Awaitable[object]]) -> Row:
        samples = []
        before = await _server_time(raw)
        for i in range(iterations):
            start = time.perf_counter_ns()
            await call(i)
            samples.append((time.perf_counter_ns() - start) / 1000)
        server = _per_call(before, await _server_time(raw))
        return Row(backend, size, blocks, op, Summary.of(samples), server)

    async def record(i: int) -> None:
        await index.record(endpoints[i % len(endpoints)], MODEL, fresh[i])

    rows = [
        await timed("match-hit", lambda i: index.match(MODEL, shared[i % len(shared)])),
        await timed("match-miss", lambda i: index.match(MODEL, fresh[i])),
    ]
    new_samples: list[float] = []
    again_samples: list[float] = []
    before = await _server_time(raw)
    for i in range(iterations):  # each prompt recorded twice in a row: new, then again
        for samples in (new_samples, again_samples):
            start = time.perf_counter_ns()
            await record(i)
            samples.append((time.perf_counter_ns() - start) / 1000)
    server = _per_call(before, await _server_time(raw))
    rows.append(Row(backend, size, blocks, "record-new", Summary.of(new_samples), server))
    rows.append(Row(backend, size, blocks, "record-again", Summary.of(again_samples)))
    return rows


async def _server_time(raw: Redis | None) -> tuple[int, int] | None:
    """(script calls, µs spent in them) so far, from the server's command stats."""
    if raw is None:
        return None
    stats = (await raw.info("commandstats")).get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def _per_call(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[0] == before[0]:
        return None
    return (after[1] - before[1]) / (after[0] - before[0])


def _table(rows: Sequence[Row]) -> str:
    header = (
        f"{'backend':8} {'tokens':>7} {'blocks':>6} {'op':13} "
        f"{'p50 µs':>9} {'p99 µs':>9} {'server µs':>10}"
    )
    lines = [
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}",
        header,
        "-" * len(header),
    ]
    for row in rows:
        lines.append(
            f"{row.backend:8} {row.tokens:>7} {row.blocks:>6} {row.op:13} "
            f"{row.us.p50:>9.1f} {row.us.p99:>9.1f} "
            + (f"{row.server_us:>10.1f}" if row.server_us is not None else f"{'':>10}")
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prefix-index-bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

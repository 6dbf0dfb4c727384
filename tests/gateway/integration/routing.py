"""Helpers for the routing tests: prompts of exact token counts, streamed chats, engine stats."""

from __future__ import annotations

import random
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from loadtests.fleet import ManagedProcess
from loadtests.workloads.bodies import chat_body, message
from loadtests.workloads.text import TextSource
from tests.gateway.integration.conftest import MODEL
from tests.gateway.integration.helpers import metric_sum

TEXT = TextSource.default()


def prose(seed: str, tokens: int) -> str:
    return TEXT.text(random.Random(seed), tokens)


def chat(system: str, question: str, max_tokens: int = 4) -> dict[str, object]:
    messages = [message("system", system), message("user", question)]
    return dict(chat_body(MODEL, messages, max_tokens))


@dataclass(frozen=True)
class Answer:
    status: int
    engine: str
    request_class: str
    cached_tokens: int
    complete: bool


def stream(url: str, body: dict[str, object], timeout: float = 60) -> Answer:
    """POST a streamed chat and read it to the end."""
    with (
        httpx.Client(base_url=url, trust_env=False, timeout=timeout) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        content = b"".join(response.iter_bytes())
        headers = response.headers
    return Answer(
        response.status_code,
        headers.get("x-kvgate-engine", ""),
        headers.get("x-kvgate-class", ""),
        int(headers.get("x-kvgate-cached-tokens", "-1")),
        content.rstrip().endswith(b"data: [DONE]") and b'"error"' not in content,
    )


def stream_all(url: str, bodies: Sequence[dict[str, object]], concurrency: int) -> list[Answer]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda body: stream(url, body), bodies))


@dataclass(frozen=True)
class PrefixCounters:
    """An engine's own prefix-cache counters (tokens)."""

    queries: float
    hits: float

    @classmethod
    def of(cls, sim: ManagedProcess) -> PrefixCounters:
        text = httpx.get(sim.url + "/metrics", timeout=5, trust_env=False).text
        return cls(
            metric_sum(text, "vllm:prefix_cache_queries_total"),
            metric_sum(text, "vllm:prefix_cache_hits_total"),
        )


def hit_rate(before: Sequence[PrefixCounters], after: Sequence[PrefixCounters]) -> float:
    queries = sum(a.queries - b.queries for a, b in zip(after, before, strict=True))
    hits = sum(a.hits - b.hits for a, b in zip(after, before, strict=True))
    return hits / queries if queries else 0.0

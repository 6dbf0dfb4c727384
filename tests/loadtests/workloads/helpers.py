"""Shared checks for the workload tests: rendered prompt tokens, prefixes, gaps."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence

from gateway.tokenize import get_chat_template
from loadtests.bench.trace import TraceRecord
from loadtests.workloads.interfaces import RunSpec
from loadtests.workloads.registry import generate
from loadtests.workloads.text import TextSource


def records(text: TextSource, name: str, run: RunSpec, **overrides: object) -> list[TraceRecord]:
    params = {key: str(value) for key, value in overrides.items()}
    return list(generate(name, run, params, text))


def prompt_ids(text: TextSource, record: TraceRecord) -> list[int]:
    """The token ids an engine sees: the chat template rendered, or the raw prompt."""
    body = record.body
    if "messages" in body:
        messages = body["messages"]
        assert isinstance(messages, list)
        rendered = get_chat_template("chatml").render(messages)
        return text.tokenizer.encode(rendered)
    prompt = body["prompt"]
    assert isinstance(prompt, str)
    return text.tokenizer.encode(prompt)


def messages_of(record: TraceRecord) -> Sequence[Mapping[str, str]]:
    messages = record.body["messages"]
    assert isinstance(messages, list)
    return messages


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def gaps(offsets: Sequence[float]) -> Iterator[float]:
    return (b - a for a, b in itertools.pairwise(offsets))

"""OpenAI request bodies as the workloads send them.

Every body asks for a stream with usage and sets `ignore_eos`, so an engine (real vLLM or the
simulator) generates exactly `max_tokens` tokens and the load is the one the trace describes.
"""

from __future__ import annotations

from collections.abc import Sequence

from loadtests.bench.trace import JSONObject

Message = dict[str, str]


def message(role: str, content: str) -> Message:
    return {"role": role, "content": content}


def chat_body(
    model: str, messages: Sequence[Message], max_tokens: int, **extra: object
) -> JSONObject:
    return {
        "model": model,
        "messages": list(messages),
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
        **extra,
    }


def completion_body(model: str, prompt: str, max_tokens: int) -> JSONObject:
    return {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

"""Token usage as engines report it, read from the bytes being relayed (never re-encoded)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

USAGE_MARKER = b'"usage"'


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None = None
    """`prompt_tokens_details.cached_tokens`: prompt tokens the engine served from its
    prefix cache (vLLM reports it with `--enable-prompt-tokens-details`)."""

    @classmethod
    def from_block(cls, block: object) -> Usage | None:
        if not isinstance(block, Mapping):
            return None
        prompt, completion = block.get("prompt_tokens"), block.get("completion_tokens", 0)
        if not isinstance(prompt, int) or not isinstance(completion, int):
            return None
        details = block.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
        return cls(prompt, completion, cached if isinstance(cached, int) else None)


def usage_from_sse(chunk: bytes) -> Usage | None:
    """The usage block of the last event in `chunk` that carries one (a partial event: None)."""
    for line in reversed(chunk.split(b"\n")):
        if line.startswith(b"data:") and USAGE_MARKER in line:
            try:
                event = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and (usage := Usage.from_block(event.get("usage"))):
                return usage
    return None


def usage_from_body(body: bytes) -> Usage | None:
    """The usage block of a complete JSON response body."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return Usage.from_block(document.get("usage")) if isinstance(document, dict) else None

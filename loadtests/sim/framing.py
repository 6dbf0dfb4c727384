"""Response bytes, as vLLM's OpenAI server frames them.

Streaming chunks are built from strings precomputed once per request (the part up to the
choice index), so a token costs one string concatenation. Field order and the fields present
follow vLLM (`serving_chat.py` dumps chunks with `exclude_unset=True`, `serving_completion.py`
with `exclude_unset=False`; usage chunks add `exclude_none=True`), e.g. for chat:

    data: {"id":"chatcmpl-…","object":"chat.completion.chunk","created":1,"model":"m",
           "choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,
           "finish_reason":null}]}
    data: {…"choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}]}
    data: {…"choices":[{"index":0,"delta":{"content":"."},"logprobs":null,
           "finish_reason":"length","stop_reason":null}]}
    data: {…"choices":[],"usage":{"prompt_tokens":9,"total_tokens":12,"completion_tokens":3}}
    data: [DONE]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DONE = "data: [DONE]\n\n"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0

    def as_json(self, *, details: bool) -> dict[str, object]:
        """vLLM's `UsageInfo` field order; `prompt_tokens_details` as with
        `--enable-prompt-tokens-details` (always present in non-streamed bodies here)."""
        usage: dict[str, object] = {
            "prompt_tokens": self.prompt_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "completion_tokens": self.completion_tokens,
        }
        if details:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return usage


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _stop_reason(stop_reason: str | int | None) -> str:
    return "null" if stop_reason is None else _dumps(stop_reason)


def _stream_usage(head: str, usage: Usage) -> str:
    # Streamed usage uses exclude_none: details only when there were cached tokens.
    body = usage.as_json(details=usage.cached_tokens > 0)
    return f'{head}"choices":[],"usage":{_dumps(body)}}}\n\n'


class ChatChunks:
    """SSE chunk strings for one `/v1/chat/completions` stream."""

    __slots__ = ("_choice", "_head")

    def __init__(self, response_id: str, created: int, model: str) -> None:
        self._head = (
            f'data: {{"id":{_dumps(response_id)},"object":"chat.completion.chunk",'
            f'"created":{created},"model":{_dumps(model)},'
        )
        self._choice = self._head + '"choices":[{"index":'

    def role(self, index: int) -> str:
        return (
            f'{self._choice}{index},"delta":{{"role":"assistant","content":""}},'
            '"logprobs":null,"finish_reason":null}]}\n\n'
        )

    def token(self, index: int, escaped: str) -> str:
        return (
            f'{self._choice}{index},"delta":{{"content":{escaped}}},'
            '"logprobs":null,"finish_reason":null}]}\n\n'
        )

    def finish(
        self, index: int, escaped: str, finish_reason: str, stop_reason: str | int | None
    ) -> str:
        return (
            f'{self._choice}{index},"delta":{{"content":{escaped}}},"logprobs":null,'
            f'"finish_reason":"{finish_reason}","stop_reason":{_stop_reason(stop_reason)}}}]}}\n\n'
        )

    def usage(self, usage: Usage) -> str:
        return _stream_usage(self._head, usage)


class CompletionChunks:
    """SSE chunk strings for one `/v1/completions` stream."""

    __slots__ = ("_choice", "_head")

    def __init__(self, response_id: str, created: int, model: str) -> None:
        self._head = (
            f'data: {{"id":{_dumps(response_id)},"object":"text_completion",'
            f'"created":{created},"model":{_dumps(model)},'
        )
        self._choice = self._head + '"choices":[{"index":'

    def token(self, index: int, escaped: str) -> str:
        return (
            f'{self._choice}{index},"text":{escaped},"logprobs":null,"finish_reason":null,'
            '"stop_reason":null,"prompt_token_ids":null,"token_ids":null}],"usage":null}\n\n'
        )

    def finish(
        self, index: int, escaped: str, finish_reason: str, stop_reason: str | int | None
    ) -> str:
        return (
            f'{self._choice}{index},"text":{escaped},"logprobs":null,'
            f'"finish_reason":"{finish_reason}","stop_reason":{_stop_reason(stop_reason)},'
            '"prompt_token_ids":null,"token_ids":null}],"usage":null}\n\n'
        )

    def usage(self, usage: Usage) -> str:
        return _stream_usage(self._head, usage)


@dataclass(frozen=True)
class ChoiceResult:
    index: int
    text: str
    finish_reason: str
    stop_reason: str | int | None


def chat_response(
    response_id: str, created: int, model: str, choices: Sequence[ChoiceResult], usage: Usage
) -> dict[str, object]:
    """A non-streamed `chat.completion` body (vLLM dumps it with every field)."""
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": choice.index,
                "message": {
                    "role": "assistant",
                    "content": choice.text,
                    "refusal": None,
                    "annotations": None,
                    "audio": None,
                    "function_call": None,
                    "tool_calls": [],
                    "reasoning_content": None,
                },
                "logprobs": None,
                "finish_reason": choice.finish_reason,
                "stop_reason": choice.stop_reason,
                "token_ids": None,
            }
            for choice in choices
        ],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": usage.as_json(details=True),
        "prompt_logprobs": None,
        "prompt_token_ids": None,
        "kv_transfer_params": None,
    }


def completion_response(
    response_id: str, created: int, model: str, choices: Sequence[ChoiceResult], usage: Usage
) -> dict[str, object]:
    """A non-streamed `text_completion` body."""
    return {
        "id": response_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": choice.index,
                "text": choice.text,
                "logprobs": None,
                "finish_reason": choice.finish_reason,
                "stop_reason": choice.stop_reason,
                "token_ids": None,
                "prompt_logprobs": None,
                "prompt_token_ids": None,
            }
            for choice in choices
        ],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": usage.as_json(details=True),
        "kv_transfer_params": None,
    }


def json_bytes(payload: Mapping[str, object] | Sequence[object]) -> bytes:
    return _dumps(payload).encode()

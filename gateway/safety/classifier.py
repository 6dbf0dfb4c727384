"""The `external-classifier` guard: a guard model behind an OpenAI-compatible endpoint.

Built for Llama Guard–style models served by vLLM (often on the same fleet): the request's
conversation is sent as chat messages, and the model answers `safe`, or `unsafe` followed by a
line of category codes (`S1,S10`). One call per request, through the gateway's shared upstream
client, bounded by `timeout`. When the classifier does not answer in time, fails, or answers
something else, `fail` decides: `open` lets the request through (flagged
`classifier_unavailable`), `closed` refuses it with `guard_unavailable` (503). Which one is
deliberate policy, so the setting has no default.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Sequence
from typing import ClassVar, Literal

import orjson
from pydantic import Field, field_validator

from gateway.errors import ContentFilterError, GuardUnavailableError, UpstreamError
from gateway.proxy.interfaces import UpstreamTransport
from gateway.routing.request import InferenceRequest
from gateway.safety.base import GuardConfigError, GuardDeps, GuardParams, GuardPlugin
from gateway.safety.interfaces import CLEAN, GuardResult, GuardVerdict, RemoteGuard
from gateway.safety.texts import Segment
from gateway.types import RawHeaders, RequestKind

_CATEGORY = re.compile(r"[A-Za-z0-9_.-]{1,24}")
_MAX_ANSWER = 64 * 1024
_MAX_CATEGORIES = 8


class ExternalClassifierParams(GuardParams):
    url: str = Field(pattern=r"^https?://")
    """Base URL of the OpenAI-compatible server (`/v1/chat/completions` is appended)."""
    model: str = Field(min_length=1)
    """The guard model's served name, e.g. `meta-llama/Llama-Guard-3-1B`."""
    timeout: float = Field(gt=0, le=30)
    """Seconds for the whole call, connection included."""
    fail: Literal["open", "closed"]
    """What a timeout or failure means: `open` forwards the request, `closed` refuses it."""
    action: Literal["block", "flag"] = "block"
    roles: tuple[str, ...] = ("user", "assistant")
    """Messages sent for classification (roles other than `assistant` are sent as `user`)."""
    unsafe_prefix: str = Field(default="unsafe", min_length=1)
    """An answer starting with this (case-insensitive) is a violation; the next line lists
    categories."""
    max_tokens: int = Field(default=20, ge=1, le=512)
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    """An environment variable whose value is sent as `Authorization: Bearer …`."""

    @field_validator("url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.rstrip("/")


class _Unavailable(Exception):
    """The classifier gave no usable answer; `args[0]` is a short bounded reason."""


class ExternalClassifierGuard(GuardPlugin, RemoteGuard):
    type_name: ClassVar[str] = "external-classifier"
    stage = "input"
    Params = ExternalClassifierParams

    def __init__(self, name: str, params: ExternalClassifierParams, deps: GuardDeps) -> None:
        super().__init__(name, params, deps)
        self._transport: UpstreamTransport | None = deps.transport  # None: a dry build
        self._params = params
        self._url = params.url + RequestKind.CHAT.path
        self._roles = frozenset(params.roles)
        self._headers: RawHeaders = [(b"content-type", b"application/json")]
        if params.api_key_env is not None:
            key = os.environ.get(params.api_key_env)
            if not key:
                raise GuardConfigError(f"guard {name!r}: ${params.api_key_env} is not set")
            self._headers.append((b"authorization", b"Bearer " + key.encode()))

    async def assess(self, request: InferenceRequest, segments: Sequence[Segment]) -> GuardResult:
        messages = _conversation(segments, self._roles)
        if request.kind is RequestKind.EMBEDDING or not messages:
            return CLEAN
        try:
            answer = await self._ask(messages)
        except _Unavailable as exc:
            return self._unavailable(str(exc))
        first, _, rest = answer.strip().partition("\n")
        if not first.strip().lower().startswith(self._params.unsafe_prefix.lower()):
            return CLEAN
        categories = tuple(_CATEGORY.findall(rest.replace(",", " ")))[:_MAX_CATEGORIES]
        verdict = GuardVerdict(
            self.name, self._params.action, "classifier_unsafe", details=categories
        )
        if self._params.action == "flag":
            return GuardResult((verdict,))
        listed = f" (categories: {', '.join(categories)})" if categories else ""
        error = ContentFilterError(
            f"The request was refused by the gateway's safety classifier{listed}."
        )
        return GuardResult((verdict,), refusal=error)

    async def _ask(self, messages: list[dict[str, str]]) -> str:
        body = orjson.dumps(
            {
                "model": self._params.model,
                "messages": messages,
                "max_tokens": self._params.max_tokens,
                "temperature": 0,
                "stream": False,
            }
        )
        if self._transport is None:
            raise _Unavailable("no_client")
        try:
            async with asyncio.timeout(self._params.timeout):
                response = await self._transport.post(self._url, body, self._headers)
                try:
                    if response.status != 200:
                        raise _Unavailable(f"status_{response.status}")
                    data = await _read(response.chunks())
                finally:
                    await response.aclose()
        except TimeoutError:
            raise _Unavailable("timeout") from None
        except UpstreamError as exc:
            raise _Unavailable(exc.code or "upstream_error") from None
        return _content(data)

    def _unavailable(self, cause: str) -> GuardResult:
        if self._params.fail == "open":
            verdict = GuardVerdict(self.name, "flag", "classifier_unavailable", details=(cause,))
            return GuardResult((verdict,))
        verdict = GuardVerdict(self.name, "block", "classifier_unavailable", details=(cause,))
        error = GuardUnavailableError(
            "The gateway's safety classifier gave no verdict, so the request was not forwarded."
        )
        return GuardResult((verdict,), refusal=error)


def _conversation(segments: Sequence[Segment], roles: frozenset[str]) -> list[dict[str, str]]:
    """Chat messages for the classifier, consecutive turns of one role merged (guard models'
    templates want alternating turns)."""
    messages: list[dict[str, str]] = []
    for segment in segments:
        if segment.role not in roles or not segment.text:
            continue
        role = "assistant" if segment.role == "assistant" else "user"
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n\n" + segment.text
        else:
            messages.append({"role": role, "content": segment.text})
    return messages


async def _read(chunks: AsyncIterator[bytes]) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > _MAX_ANSWER:
            raise _Unavailable("answer_too_large")
    return b"".join(parts)


def _content(data: bytes) -> str:
    try:
        document = orjson.loads(data)
        content = document["choices"][0]["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise _Unavailable("malformed_answer") from None
    if not isinstance(content, str):
        raise _Unavailable("malformed_answer")
    return content

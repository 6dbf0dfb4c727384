"""Exact token ids from the engine itself, through vLLM's `POST /tokenize`.

The engine applies its own tokenizer and chat template, so the ids match what it caches
block for block, whatever the model. The price is a round trip on the request path, so
answers are kept in a bounded LRU keyed by a digest of the request body (never the text),
and every call has a deadline. This is I/O, hence async and not a `Tokenizer` (which is
synchronous); `TokenizingPromptBuilder` uses it for models configured as `engine`.

Wire format (vLLM's): `{"model", "prompt"}` or `{"model", "messages", "tools"?,
"add_generation_prompt"}` → `{"count", "max_model_len", "tokens"}`. Every engine serving a
model is assumed to tokenize it the same way, so the engine's URL is not part of the key.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from gateway.errors import UpstreamError
from gateway.proxy.interfaces import UpstreamTransport
from gateway.types import RawHeaders

_JSON_HEADERS: RawHeaders = [(b"content-type", b"application/json")]
_MAX_ERROR_BYTES = 2048


class EngineTokenizerError(RuntimeError):
    """The engine did not tokenize: unreachable, too slow, refused, or answered garbage."""


@dataclass(frozen=True, slots=True)
class EngineTokens:
    token_ids: tuple[int, ...]
    max_model_len: int | None
    """The engine's context length, when it reports one."""


class EngineTokenizer:
    """Asks engines to tokenize, over the shared upstream transport (the caller owns it).

    `timeout_s` bounds each call (connect, send, answer). The cache holds at most
    `cache_entries` answers and `cache_tokens` token ids in total (about 36 bytes each);
    an answer larger than that is not cached. One event loop; not thread-safe.
    """

    def __init__(
        self,
        transport: UpstreamTransport,
        *,
        timeout_s: float = 2.0,
        cache_entries: int = 4096,
        cache_tokens: int = 1_000_000,
        headers: Sequence[tuple[bytes, bytes]] = (),
        path: str = "/tokenize",
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self._transport = transport
        self._timeout_s = timeout_s
        self._max_entries = max(0, cache_entries)
        self._max_tokens = max(0, cache_tokens)
        self._headers = [*_JSON_HEADERS, *headers]
        self._path = path
        self._cache: OrderedDict[bytes, EngineTokens] = OrderedDict()
        self._cached_tokens = 0
        self.cache_hits = 0
        self.cache_misses = 0

    async def tokenize_prompt(self, base_url: str, model: str, prompt: str) -> EngineTokens:
        """Token ids of a completion prompt, as the engine would see it (special tokens such
        as BOS added by the engine's defaults)."""
        return await self._tokenize(base_url, {"model": model, "prompt": prompt})

    async def tokenize_messages(
        self,
        base_url: str,
        model: str,
        messages: Sequence[Mapping[str, object]],
        *,
        tools: Sequence[object] | None = None,
        add_generation_prompt: bool = True,
    ) -> EngineTokens:
        """Token ids of chat messages rendered with the engine's own chat template."""
        document: dict[str, object] = {
            "model": model,
            "messages": messages,
            "add_generation_prompt": add_generation_prompt,
        }
        if tools:
            document["tools"] = tools
        return await self._tokenize(base_url, document)

    async def _tokenize(self, base_url: str, document: Mapping[str, object]) -> EngineTokens:
        try:
            body = orjson.dumps(document)
        except TypeError as exc:
            raise EngineTokenizerError(f"cannot encode the request: {exc}") from exc
        key = hashlib.blake2b(body, digest_size=16).digest()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return cached
        self.cache_misses += 1
        tokens = await self._ask(base_url + self._path, body)
        self._remember(key, tokens)
        return tokens

    async def _ask(self, url: str, body: bytes) -> EngineTokens:
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._transport.post(url, body, self._headers)
                try:
                    status = response.status
                    payload = b"".join([chunk async for chunk in response.chunks()])
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            raise EngineTokenizerError(f"{url} did not answer in {self._timeout_s}s") from exc
        except UpstreamError as exc:
            raise EngineTokenizerError(f"{url} failed: {exc.message}") from exc
        if status != 200:
            detail = payload[:_MAX_ERROR_BYTES].decode("utf-8", errors="replace")
            raise EngineTokenizerError(f"{url} answered {status}: {detail}")
        return _parse_answer(payload, url)

    def _remember(self, key: bytes, tokens: EngineTokens) -> None:
        size = len(tokens.token_ids)
        if self._max_entries == 0 or size > self._max_tokens:
            return
        self._cache[key] = tokens
        self._cached_tokens += size
        while len(self._cache) > self._max_entries or self._cached_tokens > self._max_tokens:
            _, evicted = self._cache.popitem(last=False)
            self._cached_tokens -= len(evicted.token_ids)


def _parse_answer(payload: bytes, url: str) -> EngineTokens:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise EngineTokenizerError(f"{url} answered non-JSON: {exc}") from None
    tokens = document.get("tokens") if isinstance(document, dict) else None
    # Engines are trusted peers: check the shape, not each of possibly 100k ids.
    if not isinstance(tokens, list) or (tokens and not isinstance(tokens[0], int)):
        raise EngineTokenizerError(f"{url} answered without a `tokens` list of ids")
    max_len = document.get("max_model_len")
    return EngineTokens(tuple(tokens), max_len if isinstance(max_len, int) else None)

"""The tokenize stage: render the prompt, tokenize it with the model's tokenizer, hash it.

Per requested model, a `TokenizerChoice` names the tokenizer (a `load_tokenizer` spec, or
`engine` for the engine's own `/tokenize`) and the chat template. Choices are looked up by
exact model name, then by glob in the order given, then for a LoRA adapter by its base
model the same way, then the default (`qwen2.5` with `chatml`).

What is tokenized:
- chat (and embeddings given `messages`): the messages and `tools` rendered with the chat
  template, honouring `add_generation_prompt`;
- completions and embeddings: `prompt`/`input` as a string; token ids are taken as given;
  for a batch (a list of strings or of id lists) only the first element, since routing
  sends the whole batch to one engine and the first prompt stands for its prefix.

Block hashes are chained over the token ids from `prefix_seed(base model, adapter,
cache_salt)`: for an adapter the chain is seeded by its base model and the adapter name,
as the KV-event tracker seeds the engine's blocks. The long pieces of a rendered prompt
(a shared system prompt or document) are encoded once and then taken from a bounded cache
(`SegmentCachingTokenizer`; exact for tiktoken vocabularies). Long inputs are tokenized
and hashed in the builder's own small thread pool (tiktoken and HF tokenizers release the
GIL), so the event loop keeps serving. A failure to tokenize never fails the request: the
builder falls back to the byte estimate and counts it. With `engine`, the ids are the
engine's and `Prompt.text` is the local template's rendering (what classification and
guards read).
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gateway.openai.prompt import Prompt
from gateway.prefix.hashing import DEFAULT_BLOCK_SIZE, block_hashes, prefix_seed
from gateway.routing.interfaces import PromptBuilder
from gateway.routing.request import InferenceRequest
from gateway.tokenize import DEFAULT_TOKENIZER, Tokenizer, get_chat_template, load_tokenizer
from gateway.tokenize.chat_template import ChatTemplate, JSONObject
from gateway.tokenize.engine import EngineTokenizer, EngineTokenizerError
from gateway.tokenize.segment_cache import SegmentCachingTokenizer

logger = logging.getLogger(__name__)

ENGINE = "engine"
"""The tokenizer spec that asks the engine's `/tokenize`."""

_GLOB_CHARS = frozenset("*?[")
_Result = tuple[tuple[int, ...], tuple[int, ...]]
"""Token ids and block hashes."""
_WARN_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class TokenizerChoice:
    """How to tokenize one model's prompts: a `load_tokenizer` spec or `engine`, and the
    name of a chat template (`get_chat_template`)."""

    tokenizer: str = DEFAULT_TOKENIZER
    chat_template: str = "chatml"


@dataclass(frozen=True, slots=True)
class _Resolved:
    choice: TokenizerChoice
    tokenizer: Tokenizer | None  # None for `engine`
    template: ChatTemplate


@dataclass(frozen=True, slots=True)
class _Input:
    """What to tokenize: rendered text, or ids the client gave."""

    text: str | None
    token_ids: Sequence[object] | None = None  # as the client sent them: checked later
    messages: Sequence[JSONObject] | None = None
    tools: Sequence[object] | None = None
    add_generation_prompt: bool = True


class TokenizingPromptBuilder(PromptBuilder):
    """Builds `Prompt`s; construct once at startup (it loads every configured vocabulary,
    about a second for `qwen2.5`, and raises `TokenizerError` or `ValueError` on a bad
    choice) and `close()` at shutdown.

    - `choices`: model name or glob → choice; globs are tried in the mapping's order.
    - `base_model(name)`: the base model of a LoRA adapter name, None for anything else.
    - `engine_tokenizer`, `engine_url(model)`: required when a choice is `engine`; the URL
      is the base URL of a ready engine serving the model, or None when there is none.
    - `block_size`: tokens per hashed block; must equal the prefix index's.
    - `offload_chars`: texts at least this long (and id lists a quarter as long) are
      tokenized and hashed in the builder's thread pool of `max_workers` threads.
    - `load`: resolves specs (a test seam; `load_tokenizer` by default).
    - `on_fallback(model, reason)`: told when the byte estimate was used; reasons are
      `tokenizer_error`, `engine_error`, `no_engine`, `render_error` (then the prompt is
      empty). `model` is the client's string: map it to a bounded label before exporting.
    """

    def __init__(
        self,
        choices: Mapping[str, TokenizerChoice] | None = None,
        *,
        default: TokenizerChoice | None = None,
        base_model: Callable[[str], str | None] | None = None,
        engine_tokenizer: EngineTokenizer | None = None,
        engine_url: Callable[[str], str | None] | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        offload_chars: int = 4096,
        max_workers: int = 2,
        load: Callable[[str], Tokenizer] = load_tokenizer,
        on_fallback: Callable[[str, str], None] | None = None,
    ) -> None:
        if block_size < 1:
            raise ValueError("block_size must be ≥ 1")
        choices = dict(choices or {})
        default = default or TokenizerChoice()
        self._base_model = base_model
        self._engine = engine_tokenizer
        self._engine_url = engine_url
        self._block_size = block_size
        self._offload_chars = max(1, offload_chars)
        self._on_fallback = on_fallback
        self._estimate = load_tokenizer("estimate")
        loaded: dict[str, Tokenizer | None] = {}
        self._exact: dict[str, _Resolved] = {}
        self._globs: list[tuple[re.Pattern[str], _Resolved]] = []
        for pattern, choice in choices.items():
            resolved = self._resolve_choice(choice, load, loaded)
            if _GLOB_CHARS.isdisjoint(pattern):
                self._exact[pattern] = resolved
            else:
                self._globs.append((re.compile(fnmatch.translate(pattern)), resolved))
        self._default = self._resolve_choice(default, load, loaded)
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="kvgate-tokenize")
        self._last_warned: dict[str, float] = {}
        self.offloaded = 0
        self.fallbacks: Counter[str] = Counter()

    def close(self) -> None:
        """Stop the thread pool; work already running finishes, queued work is dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def build(self, request: InferenceRequest) -> Prompt:
        base = self._base_model(request.model) if self._base_model else None
        adapter = request.model if base else None
        resolved = self._choose(request.model, base)
        try:
            work = _input_of(request, resolved.template)
        except (ValueError, TypeError) as exc:  # a template choking on odd message content
            self._fell_back(request.model, "render_error", exc)
            return Prompt(base_model=base)
        if work is None:
            return Prompt(base_model=base)
        salt = request.fields.get("cache_salt")
        seed = prefix_seed(base or request.model, adapter, salt if isinstance(salt, str) else None)
        token_ids, hashes = await self._tokenize_and_hash(request.model, resolved, work, seed)
        return Prompt(work.text, token_ids, hashes, base_model=base)

    # --- choosing ------------------------------------------------------------------------

    def _resolve_choice(
        self,
        choice: TokenizerChoice,
        load: Callable[[str], Tokenizer],
        loaded: dict[str, Tokenizer | None],
    ) -> _Resolved:
        try:
            template = get_chat_template(choice.chat_template)
        except KeyError as exc:
            raise ValueError(str(exc)) from None
        if choice.tokenizer == ENGINE and (self._engine is None or self._engine_url is None):
            raise ValueError("tokenizer `engine` needs engine_tokenizer and engine_url")
        spec = choice.tokenizer
        if spec not in loaded:
            loaded[spec] = None if spec == ENGINE else SegmentCachingTokenizer(load(spec))
        return _Resolved(choice, loaded[spec], template)

    def _choose(self, model: str, base: str | None) -> _Resolved:
        for name in (model, base):
            if name is None:
                continue
            resolved = self._exact.get(name)
            if resolved is not None:
                return resolved
            for pattern, resolved in self._globs:
                if pattern.match(name):
                    return resolved
        return self._default

    # --- tokenizing ----------------------------------------------------------------------

    async def _tokenize_and_hash(
        self, model: str, resolved: _Resolved, work: _Input, seed: int
    ) -> _Result:
        block_size = self._block_size
        text = work.text or ""
        try:
            if work.token_ids is not None:
                ids = work.token_ids
                return await self._run(4 * len(ids), lambda: _hash_given(ids, seed, block_size))
            tokenizer = resolved.tokenizer
            if tokenizer is None:
                return await self._ask_engine(model, work, seed)
            return await self._run(
                len(text), lambda: _hash(tokenizer.encode(text), seed, block_size)
            )
        except EngineTokenizerError as exc:
            self._fell_back(model, "engine_error", exc)
        except _NoEngineError as exc:
            self._fell_back(model, "no_engine", exc)
        except (ValueError, TypeError, RuntimeError) as exc:
            # What tokenizers raise on input they cannot handle (and hashing on ids that are
            # not ints); nothing here may fail the request.
            self._fell_back(model, "tokenizer_error", exc)
        estimate = self._estimate
        return await self._run(len(text), lambda: _hash(estimate.encode(text), seed, block_size))

    async def _ask_engine(self, model: str, work: _Input, seed: int) -> _Result:
        engine, engine_url = self._engine, self._engine_url
        if engine is None or engine_url is None:  # checked at init; for the type checker
            raise _NoEngineError("no engine tokenizer configured")
        url = engine_url(model)
        if url is None:
            raise _NoEngineError(f"no engine to tokenize {model!r}")
        if work.messages is not None:
            answer = await engine.tokenize_messages(
                url,
                model,
                work.messages,
                tools=work.tools,
                add_generation_prompt=work.add_generation_prompt,
            )
        else:
            answer = await engine.tokenize_prompt(url, model, work.text or "")
        ids, block_size = answer.token_ids, self._block_size
        return await self._run(4 * len(ids), lambda: _hash(ids, seed, block_size))

    async def _run(self, size_chars: int, work: Callable[[], _Result]) -> _Result:
        """`work()` inline when small, in the pool when `size_chars` reaches
        `offload_chars` (a token id counts as four characters)."""
        if size_chars < self._offload_chars:
            return work()
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, work)
        except RuntimeError:  # the pool is shut down: the process is stopping
            return work()
        self.offloaded += 1
        return await future

    def _fell_back(self, model: str, reason: str, error: BaseException) -> None:
        self.fallbacks[reason] += 1
        if self._on_fallback is not None:
            self._on_fallback(model, reason)
        now = time.monotonic()
        last = self._last_warned.get(reason)
        if last is None or now - last >= _WARN_EVERY_S:
            self._last_warned[reason] = now
            logger.warning(
                "tokenizing for %s failed (%s), using the byte estimate: %r", model, reason, error
            )


class _NoEngineError(LookupError):
    """No ready engine to ask for `/tokenize`."""


def _hash(token_ids: Sequence[int], seed: int, block_size: int) -> _Result:
    ids = tuple(token_ids)
    return ids, tuple(block_hashes(ids, seed=seed, block_size=block_size))


def _hash_given(token_ids: Sequence[object], seed: int, block_size: int) -> _Result:
    """`_hash` of ids from the client, whose items the request parser did not check in a
    batch of id lists."""
    ids: list[int] = []
    for token_id in token_ids:
        if type(token_id) is not int:
            raise TypeError(f"token ids must be integers, not {type(token_id).__name__}")
        ids.append(token_id)
    return _hash(ids, seed, block_size)


def _input_of(request: InferenceRequest, template: ChatTemplate) -> _Input | None:
    """What the request asks to tokenize, or None when it carries nothing to tokenize."""
    fields = request.fields
    if request.messages is not None:
        messages = [message for message in request.messages if isinstance(message, dict)]
        tools = fields.get("tools")
        tool_list = tools if isinstance(tools, list) and tools else None
        generation = fields.get("add_generation_prompt")
        add_generation_prompt = generation if isinstance(generation, bool) else True
        text = template.render(
            messages, tools=tool_list, add_generation_prompt=add_generation_prompt
        )
        return _Input(text, None, messages, tool_list, add_generation_prompt)
    return _prompt_input(request.prompt)


def _prompt_input(prompt: object) -> _Input | None:
    if isinstance(prompt, str):
        return _Input(prompt)
    if not isinstance(prompt, list) or not prompt:
        return None
    first = prompt[0]
    if isinstance(first, str):
        return _Input(first)  # a batch of prompts: the first one stands for the batch
    if isinstance(first, list):
        return _Input(None, first)  # a batch of id lists
    return _Input(None, prompt)  # one prompt as token ids

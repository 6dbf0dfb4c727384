from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence

import orjson
import pytest

from gateway.openai.request_view import parse_request
from gateway.prefix.hashing import block_hashes, prefix_seed
from gateway.proxy.aiohttp_upstream import AiohttpTransport
from gateway.routing.prompt_builder import ENGINE, TokenizerChoice, TokenizingPromptBuilder
from gateway.routing.request import InferenceRequest
from gateway.tokenize import Tokenizer, get_chat_template, load_tokenizer
from gateway.tokenize.engine import EngineTokenizer
from gateway.types import RequestKind
from loadtests.fleet import Fleet, ManagedProcess, free_port

MODEL = "Qwen/Qwen2.5-7B-Instruct"
ADAPTERS = {"sql-lora": MODEL}
QWEN = load_tokenizer("qwen2.5")
CHATML = get_chat_template("chatml")
LONG_TEXT = "The quick brown fox jumps over the lazy dog. " * 2300  # > 100k characters


def request(kind: RequestKind, **fields: object) -> InferenceRequest:
    body = orjson.dumps({"model": MODEL, **fields})
    return parse_request(kind, body, request_id="req-1")


def chat(*messages: Mapping[str, object], **fields: object) -> InferenceRequest:
    return request(RequestKind.CHAT, messages=list(messages), **fields)


def completion(prompt: object, **fields: object) -> InferenceRequest:
    return request(RequestKind.COMPLETION, prompt=prompt, **fields)


USER: Mapping[str, object] = {"role": "user", "content": "What is prefix caching? " * 8}
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {}}}]


def expected_ids(text: str) -> tuple[int, ...]:
    return tuple(QWEN.encode(text))


def hashes(
    ids: Sequence[int], model: str = MODEL, lora: str | None = None, salt: str | None = None
) -> tuple[int, ...]:
    return tuple(block_hashes(ids, seed=prefix_seed(model, lora, salt)))


@pytest.fixture
def builder() -> Iterator[TokenizingPromptBuilder]:
    built = TokenizingPromptBuilder(base_model=ADAPTERS.get)
    yield built
    built.close()


CHAT_TEXT = CHATML.render([USER])
PROMPT_TEXT = "Once upon a time, " * 20


@pytest.mark.parametrize(
    ("incoming", "text", "ids", "seed_args"),
    [
        pytest.param(chat(USER), CHAT_TEXT, expected_ids(CHAT_TEXT), {}, id="chat"),
        pytest.param(
            chat(USER, tools=TOOLS),
            CHATML.render([USER], tools=TOOLS),
            expected_ids(CHATML.render([USER], tools=TOOLS)),
            {},
            id="chat-tools",
        ),
        pytest.param(
            chat(USER, add_generation_prompt=False),
            CHATML.render([USER], add_generation_prompt=False),
            expected_ids(CHATML.render([USER], add_generation_prompt=False)),
            {},
            id="chat-no-generation-prompt",
        ),
        pytest.param(
            completion(PROMPT_TEXT), PROMPT_TEXT, expected_ids(PROMPT_TEXT), {}, id="completion"
        ),
        pytest.param(
            completion(list(range(40))), None, tuple(range(40)), {}, id="completion-token-ids"
        ),
        pytest.param(
            completion([PROMPT_TEXT, "another prompt"]),
            PROMPT_TEXT,
            expected_ids(PROMPT_TEXT),
            {},
            id="batch-of-strings-uses-the-first",
        ),
        pytest.param(
            completion([list(range(20)), [7, 8, 9]]),
            None,
            tuple(range(20)),
            {},
            id="batch-of-ids-uses-the-first",
        ),
        pytest.param(
            request(RequestKind.EMBEDDING, input=PROMPT_TEXT),
            PROMPT_TEXT,
            expected_ids(PROMPT_TEXT),
            {},
            id="embedding-input",
        ),
        pytest.param(
            chat(USER, cache_salt="tenant-7"),
            CHAT_TEXT,
            expected_ids(CHAT_TEXT),
            {"salt": "tenant-7"},
            id="cache-salt",
        ),
        pytest.param(
            chat(USER, cache_salt=""), CHAT_TEXT, expected_ids(CHAT_TEXT), {}, id="empty-salt"
        ),
        pytest.param(
            chat(USER, cache_salt=42), CHAT_TEXT, expected_ids(CHAT_TEXT), {}, id="non-string-salt"
        ),
    ],
)
async def test_builds_text_ids_and_hashes(
    builder: TokenizingPromptBuilder,
    incoming: InferenceRequest,
    text: str | None,
    ids: tuple[int, ...],
    seed_args: dict[str, str],
) -> None:
    prompt = await builder.build(incoming)
    assert prompt.text == text
    assert prompt.token_ids == ids
    assert prompt.block_hashes == hashes(ids, **seed_args)
    assert len(prompt.block_hashes) == len(ids) // 16 > 0
    assert prompt.base_model is None
    assert not builder.fallbacks


async def test_an_adapter_is_seeded_by_its_base_model_and_its_name(
    builder: TokenizingPromptBuilder,
) -> None:
    body = orjson.dumps({"model": "sql-lora", "prompt": PROMPT_TEXT})
    prompt = await builder.build(parse_request(RequestKind.COMPLETION, body, request_id="r"))
    assert prompt.base_model == MODEL
    assert prompt.block_hashes == hashes(expected_ids(PROMPT_TEXT), MODEL, "sql-lora")
    plain = await builder.build(completion(PROMPT_TEXT))
    assert set(prompt.block_hashes).isdisjoint(plain.block_hashes)


class MarkerTokenizer:
    """Encodes every text to `[marker]` and records the thread it ran on."""

    vocab_size = 1000
    eos_token_id = None

    def __init__(self, name: str, marker: int, fail: bool = False) -> None:
        self.name = name
        self.marker = marker
        self.fail = fail
        self.threads: list[str] = []

    def encode(self, text: str) -> list[int]:
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise ValueError("this tokenizer cannot")
        return [self.marker] * 32

    def decode(self, token_ids: Sequence[int]) -> str:
        return ""

    def token_str(self, token_id: int) -> str:
        return ""


def marker_loader(*specs: str, failing: str = "") -> Callable[[str], Tokenizer]:
    tokenizers = {spec: MarkerTokenizer(spec, i, spec == failing) for i, spec in enumerate(specs)}
    return tokenizers.__getitem__


CHOICES = {
    "exact-model": TokenizerChoice("exact"),
    "llama-*": TokenizerChoice("glob-1", "llama3"),
    "*-instruct": TokenizerChoice("glob-2"),
    MODEL: TokenizerChoice("base"),
}
SPECS = ("default", "exact", "glob-1", "glob-2", "base")


@pytest.mark.parametrize(
    ("model", "spec"),
    [
        pytest.param("exact-model", "exact", id="exact"),
        pytest.param("llama-3-instruct", "glob-1", id="first-matching-glob-wins"),
        pytest.param("mistral-instruct", "glob-2", id="second-glob"),
        pytest.param("sql-lora", "base", id="adapter-uses-its-base-models-choice"),
        pytest.param("something-else", "default", id="default"),
    ],
)
async def test_tokenizer_choice(model: str, spec: str) -> None:
    builder = TokenizingPromptBuilder(
        CHOICES,
        default=TokenizerChoice("default"),
        base_model=ADAPTERS.get,
        load=marker_loader(*SPECS),
    )
    try:
        body = orjson.dumps({"model": model, "prompt": "hello"})
        prompt = await builder.build(parse_request(RequestKind.COMPLETION, body, request_id="r"))
    finally:
        builder.close()
    assert prompt.token_ids[0] == SPECS.index(spec)


async def test_a_glob_choice_brings_its_chat_template() -> None:
    builder = TokenizingPromptBuilder(CHOICES, load=lambda spec: QWEN)
    try:
        body = orjson.dumps({"model": "llama-3", "messages": [{"role": "user", "content": "Hi"}]})
        prompt = await builder.build(parse_request(RequestKind.CHAT, body, request_id="r"))
    finally:
        builder.close()
    assert prompt.text == get_chat_template("llama3").render([{"role": "user", "content": "Hi"}])


@pytest.mark.parametrize(
    ("incoming", "fallback_text"),
    [
        pytest.param(completion(PROMPT_TEXT), PROMPT_TEXT, id="completion"),
        pytest.param(chat(USER), CHAT_TEXT, id="chat"),
    ],
)
async def test_a_failing_tokenizer_falls_back_to_the_estimate(
    incoming: InferenceRequest, fallback_text: str
) -> None:
    reported: list[tuple[str, str]] = []
    builder = TokenizingPromptBuilder(
        load=marker_loader("qwen2.5", failing="qwen2.5"),
        on_fallback=lambda model, reason: reported.append((model, reason)),
    )
    try:
        prompt = await builder.build(incoming)
    finally:
        builder.close()
    ids = tuple(load_tokenizer("estimate").encode(fallback_text))
    assert prompt.token_ids == ids
    assert prompt.block_hashes == hashes(ids)
    assert builder.fallbacks == {"tokenizer_error": 1}
    assert reported == [(MODEL, "tokenizer_error")]


@pytest.mark.parametrize(
    "ids",
    [
        pytest.param([{"not": "an id"}], id="object"),
        pytest.param(["a"] * 20, id="strings"),
        pytest.param([True] * 20, id="booleans"),
    ],
)
async def test_unusable_ids_give_an_empty_prompt(
    builder: TokenizingPromptBuilder, ids: list[object]
) -> None:
    prompt = await builder.build(completion([ids]))
    assert (prompt.token_ids, prompt.block_hashes) == ((), ())
    assert builder.fallbacks == {"tokenizer_error": 1}


async def test_a_long_prompt_is_tokenized_in_the_builders_threads() -> None:
    """While the tokenizer holds a 100k-character prompt, the event loop keeps running: the
    tokenizer waits for a gate only the loop opens, so tokenizing on the loop would hang."""
    loop = asyncio.get_running_loop()
    started, gate = asyncio.Event(), threading.Event()
    ran_on: list[str] = []

    class GatedTokenizer(MarkerTokenizer):
        def encode(self, text: str) -> list[int]:
            ran_on.append(threading.current_thread().name)
            if len(text) >= 100_000:
                loop.call_soon_threadsafe(started.set)
                if not gate.wait(timeout=60):
                    raise AssertionError("the event loop never opened the gate")
            return [1] * 64

    builder = TokenizingPromptBuilder(load=lambda spec: GatedTokenizer(spec, 1))
    try:
        building = asyncio.create_task(builder.build(completion(LONG_TEXT)))
        await started.wait()  # the loop runs while the worker thread tokenizes
        gate.set()
        prompt = await building
        short = await builder.build(completion("short"))
    finally:
        builder.close()
    assert len(LONG_TEXT) > 100_000
    assert prompt.token_count == 64
    assert short.token_count == 64
    assert ran_on[0].startswith("kvgate-tokenize")
    assert ran_on[1] == threading.current_thread().name  # short prompts stay inline
    assert builder.offloaded == 1


async def test_long_id_lists_are_hashed_in_the_builders_threads(
    builder: TokenizingPromptBuilder,
) -> None:
    ids = list(range(30_000))
    prompt = await builder.build(completion(ids))
    assert prompt.block_hashes == hashes(ids)
    assert builder.offloaded == 1


async def test_nothing_to_tokenize_gives_an_empty_prompt(builder: TokenizingPromptBuilder) -> None:
    bare = InferenceRequest("r", RequestKind.COMPLETION, "sql-lora", b"{}", {})
    prompt = await builder.build(bare)
    assert (prompt.text, prompt.token_ids, prompt.base_model) == (None, (), MODEL)


@pytest.mark.parametrize(
    ("choices", "match"),
    [
        pytest.param(
            {"m": TokenizerChoice(chat_template="nope")}, "unknown chat template", id="template"
        ),
        pytest.param({"m": TokenizerChoice(ENGINE)}, "needs engine_tokenizer", id="engine-unwired"),
    ],
)
def test_bad_choices_fail_at_startup(choices: dict[str, TokenizerChoice], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TokenizingPromptBuilder(choices)


# --- engine tokenization, against a real simulated engine ----------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[ManagedProcess]:
    with Fleet() as fleet:
        yield fleet.start_sim(profile="instant", model=MODEL)


@pytest.fixture
async def engine_tokenizer() -> AsyncIterator[EngineTokenizer]:
    transport = AiohttpTransport(connect_timeout=2.0, max_connections=8, keepalive_expiry=4.0)
    yield EngineTokenizer(transport, timeout_s=5.0)
    await transport.aclose()


def engine_builder(
    tokenizer: EngineTokenizer, url: str | None, reported: list[tuple[str, str]]
) -> TokenizingPromptBuilder:
    return TokenizingPromptBuilder(
        {MODEL: TokenizerChoice(ENGINE)},
        engine_tokenizer=tokenizer,
        engine_url=lambda model: url,
        on_fallback=lambda model, reason: reported.append((model, reason)),
    )


@pytest.mark.parametrize(
    ("incoming", "text"),
    [
        pytest.param(chat(USER, tools=TOOLS), CHATML.render([USER], tools=TOOLS), id="chat"),
        pytest.param(completion(PROMPT_TEXT), PROMPT_TEXT, id="completion"),
    ],
)
async def test_engine_tokenization_matches_the_engines_vocabulary(
    sim: ManagedProcess, engine_tokenizer: EngineTokenizer, incoming: InferenceRequest, text: str
) -> None:
    reported: list[tuple[str, str]] = []
    builder = engine_builder(engine_tokenizer, sim.url, reported)
    try:
        prompt = await builder.build(incoming)
    finally:
        builder.close()
    assert prompt.text == text
    assert prompt.token_ids == expected_ids(text)
    assert prompt.block_hashes == hashes(expected_ids(text))
    assert reported == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param(None, "no_engine", id="no-engine"),
        pytest.param(f"http://127.0.0.1:{free_port()}", "engine_error", id="engine-down"),
    ],
)
async def test_engine_failures_fall_back_to_the_estimate(
    engine_tokenizer: EngineTokenizer, url: str | None, reason: str
) -> None:
    reported: list[tuple[str, str]] = []
    builder = engine_builder(engine_tokenizer, url, reported)
    try:
        prompt = await builder.build(completion(PROMPT_TEXT))
    finally:
        builder.close()
    assert prompt.token_ids == tuple(load_tokenizer("estimate").encode(PROMPT_TEXT))
    assert reported == [(MODEL, reason)]

"""`EngineTokenizer` against a real simulated engine on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.proxy.aiohttp_upstream import AiohttpTransport
from gateway.tokenize import get_chat_template, load_tokenizer
from gateway.tokenize.engine import EngineTokenizer, EngineTokenizerError
from loadtests.fleet import Fleet, ManagedProcess, free_port

MODEL = "Qwen/Qwen2.5-7B-Instruct"


@pytest.fixture(scope="module")
def sim() -> Iterator[ManagedProcess]:
    with Fleet() as fleet:
        yield fleet.start_sim(profile="instant", model=MODEL)


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport(connect_timeout=2.0, max_connections=8, keepalive_expiry=4.0)
    yield transport
    await transport.aclose()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Hello, world!", id="ascii"),
        pytest.param("前缀缓存节省显卡。\n\tdef f(x): return x", id="unicode-and-code"),
        pytest.param("", id="empty"),
        pytest.param("<|im_start|>user\nhi<|im_end|>", id="special-tokens"),
    ],
)
async def test_prompt_ids_match_the_engine_vocabulary(
    sim: ManagedProcess, transport: AiohttpTransport, text: str
) -> None:
    tokens = await EngineTokenizer(transport).tokenize_prompt(sim.url, MODEL, text)
    assert list(tokens.token_ids) == load_tokenizer("qwen2.5").encode(text)
    assert tokens.max_model_len == 32768


@pytest.mark.parametrize(
    ("messages", "tools", "add_generation_prompt"),
    [
        pytest.param([{"role": "user", "content": "Hi"}], None, True, id="one-turn"),
        pytest.param(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            None,
            False,
            id="system-no-generation-prompt",
        ),
        pytest.param(
            [{"role": "user", "content": "Weather?"}],
            [{"type": "function", "function": {"name": "weather", "parameters": {}}}],
            True,
            id="tools",
        ),
    ],
)
async def test_messages_are_rendered_by_the_engine(
    sim: ManagedProcess,
    transport: AiohttpTransport,
    messages: list[dict[str, object]],
    tools: list[object] | None,
    add_generation_prompt: bool,
) -> None:
    tokens = await EngineTokenizer(transport).tokenize_messages(
        sim.url, MODEL, messages, tools=tools, add_generation_prompt=add_generation_prompt
    )
    text = get_chat_template("chatml").render(
        messages, tools=tools, add_generation_prompt=add_generation_prompt
    )
    assert list(tokens.token_ids) == load_tokenizer("qwen2.5").encode(text)


async def test_answers_are_cached_by_content(
    sim: ManagedProcess, transport: AiohttpTransport
) -> None:
    tokenizer = EngineTokenizer(transport)
    first = await tokenizer.tokenize_prompt(sim.url, MODEL, "cache me")
    again = await tokenizer.tokenize_prompt(f"http://127.0.0.1:{free_port()}", MODEL, "cache me")
    assert again is first  # served from the cache: the second URL has no server behind it
    assert (tokenizer.cache_hits, tokenizer.cache_misses) == (1, 1)


@pytest.mark.parametrize(
    ("entries", "tokens", "kept"),
    [
        pytest.param(2, 1000, ["b", "c"], id="entry-bound"),
        pytest.param(10, 6, ["c"], id="token-bound"),
        pytest.param(0, 1000, [], id="cache-off"),
        pytest.param(10, 2, [], id="answers-larger-than-the-budget"),
    ],
)
async def test_cache_bounds(
    sim: ManagedProcess, transport: AiohttpTransport, entries: int, tokens: int, kept: list[str]
) -> None:
    tokenizer = EngineTokenizer(transport, cache_entries=entries, cache_tokens=tokens)
    texts = {"a": "one two three four", "b": "five six seven eight", "c": "nine ten eleven"}
    for text in texts.values():  # 4, 4 and 3 tokens
        await tokenizer.tokenize_prompt(sim.url, MODEL, text)
    unreachable = f"http://127.0.0.1:{free_port()}"
    cached = []
    for name, text in texts.items():
        try:
            await tokenizer.tokenize_prompt(unreachable, MODEL, text)
        except EngineTokenizerError:
            continue
        cached.append(name)
    assert cached == kept


@pytest.mark.parametrize(
    ("model", "match"),
    [
        pytest.param("no-such-model", "answered 404", id="unknown-model"),
        pytest.param(MODEL, "failed", id="unreachable"),
    ],
)
async def test_engine_failures_are_tokenizer_errors(
    sim: ManagedProcess, transport: AiohttpTransport, model: str, match: str
) -> None:
    url = sim.url if model != MODEL else f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EngineTokenizerError, match=match):
        await EngineTokenizer(transport).tokenize_prompt(url, model, "hi")


async def test_a_silent_engine_times_out(transport: AiohttpTransport) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # keep the connection open and say nothing

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(EngineTokenizerError, match="did not answer"):
            await EngineTokenizer(transport, timeout_s=0.05).tokenize_prompt(
                f"http://127.0.0.1:{port}", MODEL, "hi"
            )
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_timeout_must_be_positive(transport: AiohttpTransport) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        EngineTokenizer(transport, timeout_s=0)

"""The HTTP surface in process (httpx.ASGITransport, the app's own lifespan, `instant` engine)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import openai
import pytest
from fastapi import FastAPI

from gateway.tokenize import get_chat_template, load_tokenizer
from loadtests.sim.models import parse_lora_modules
from loadtests.sim.server import create_app
from loadtests.sim.settings import SimSettings

MODEL = "Qwen/Qwen2.5-7B-Instruct"
MESSAGES: list[dict[str, object]] = [{"role": "user", "content": "Tell me about caches."}]
CHAT = {"model": MODEL, "messages": MESSAGES}
CHAT_TOKENS = len(load_tokenizer().encode(get_chat_template("chatml").render(MESSAGES)))


def sim_settings(**overrides: Any) -> SimSettings:
    base: dict[str, Any] = {
        "profile": "instant",
        "max_model_len": 4096,
        "lora_modules": parse_lora_modules(["sql-lora=/adapters/sql"]),
    }
    return SimSettings(**{**base, **overrides})


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    application = create_app(sim_settings())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
        yield c


def sse_events(body: str) -> list[str]:
    """The `data:` payloads of an SSE body; asserts vLLM's exact `data: …\\n\\n` framing."""
    assert body.endswith("\n\n")
    events = body.split("\n\n")[:-1]
    assert all(event.startswith("data: ") and "\n" not in event for event in events), events
    return [event[len("data: ") :] for event in events]


async def post_stream(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[str]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse_events(response.text)


# --- streaming framing --------------------------------------------------------------------


async def test_chat_stream_framing(client: httpx.AsyncClient) -> None:
    body = {**CHAT, "max_tokens": 7, "stream": True, "stream_options": {"include_usage": True}}
    events = await post_stream(client, "/v1/chat/completions", body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    role, tokens, usage = chunks[0], chunks[1:-1], chunks[-1]
    assert role["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert len(tokens) == 7  # one chunk per token
    assert all(set(c["choices"][0]["delta"]) == {"content"} for c in tokens)
    assert all(c["choices"][0]["finish_reason"] is None for c in tokens[:-1])
    assert tokens[-1]["choices"][0]["finish_reason"] == "length"
    assert tokens[-1]["choices"][0]["stop_reason"] is None
    assert usage["choices"] == []
    assert usage["usage"] == {
        "prompt_tokens": CHAT_TOKENS,
        "total_tokens": CHAT_TOKENS + 7,
        "completion_tokens": 7,
    }
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert {c["created"] for c in chunks} == {chunks[0]["created"]}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["model"] for c in chunks} == {MODEL}


async def test_completion_stream_framing(client: httpx.AsyncClient) -> None:
    body = {
        "model": MODEL,
        "prompt": "The quick brown fox",
        "max_tokens": 5,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = await post_stream(client, "/v1/completions", body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    tokens, usage = chunks[:-1], chunks[-1]
    assert len(tokens) == 5
    assert {c["object"] for c in chunks} == {"text_completion"}
    assert chunks[0]["id"].startswith("cmpl-")
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert {c["created"] for c in chunks} == {chunks[0]["created"]}
    assert list(tokens[0]["choices"][0]) == [
        "index",
        "text",
        "logprobs",
        "finish_reason",
        "stop_reason",
        "prompt_token_ids",
        "token_ids",
    ]
    assert tokens[-1]["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 5


async def test_stream_without_usage_ends_with_finish_then_done(client: httpx.AsyncClient) -> None:
    events = await post_stream(
        client, "/v1/chat/completions", {**CHAT, "max_tokens": 3, "stream": True}
    )
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["choices"][0]["finish_reason"] == "length"
    assert "usage" not in last


async def test_chat_stream_n2_indexes_each_choice(client: httpx.AsyncClient) -> None:
    body = {**CHAT, "max_tokens": 4, "n": 2, "stream": True, "stream_options": {}}
    events = await post_stream(client, "/v1/chat/completions", body)
    chunks = [json.loads(event) for event in events[:-1]]
    roles = [c for c in chunks if c["choices"] and "role" in c["choices"][0]["delta"]]
    assert [c["choices"][0]["index"] for c in roles] == [0, 1]
    assert chunks[0] in roles
    assert chunks[1] in roles
    for index in (0, 1):
        mine = [c for c in chunks[2:-1] if c["choices"][0]["index"] == index]
        assert len(mine) == 4
        assert mine[-1]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 8
    assert chunks[-1]["usage"]["prompt_tokens"] == CHAT_TOKENS  # the shared prompt counts once


# --- non-streamed shapes ------------------------------------------------------------------


async def test_chat_non_stream_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 6, "n": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert [c["index"] for c in body["choices"]] == [0, 1]
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert message["content"]
    assert message["content"] != body["choices"][1]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "length"
    usage = body["usage"]
    assert list(usage) == [
        "prompt_tokens",
        "total_tokens",
        "completion_tokens",
        "prompt_tokens_details",
    ]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (CHAT_TOKENS, 12)
    assert usage["total_tokens"] == CHAT_TOKENS + 12
    assert isinstance(usage["prompt_tokens_details"]["cached_tokens"], int)


async def test_completion_non_stream_shape_and_echo(client: httpx.AsyncClient) -> None:
    body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 4, "echo": True}
    response = await client.post("/v1/completions", json=body)
    payload = response.json()
    assert payload["object"] == "text_completion"
    text = payload["choices"][0]["text"]
    assert text.startswith("Once upon a time")
    assert len(text) > len("Once upon a time")
    assert payload["usage"]["prompt_tokens"] == 4


async def test_same_request_gives_same_text_and_seed_changes_it(client: httpx.AsyncClient) -> None:
    async def text(extra: dict[str, Any]) -> str:
        response = await client.post(
            "/v1/chat/completions", json={**CHAT, "max_tokens": 12, **extra}
        )
        return str(response.json()["choices"][0]["message"]["content"])

    assert await text({}) == await text({})
    assert await text({"seed": 1}) == await text({"seed": 1}) != await text({"seed": 2})


async def test_stop_string_truncates_and_reports_stop_reason(client: httpx.AsyncClient) -> None:
    base = {**CHAT, "max_tokens": 40, "seed": 7}
    full = (await client.post("/v1/chat/completions", json=base)).json()
    text = full["choices"][0]["message"]["content"]
    stop = text.split()[5]  # a word well inside the answer
    cut = (await client.post("/v1/chat/completions", json={**base, "stop": [stop]})).json()
    choice = cut["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["stop_reason"] == stop
    assert choice["message"]["content"] == text[: text.index(stop)]
    assert cut["usage"]["completion_tokens"] < 40
    streamed_body = {**base, "stop": stop, "stream": True}
    events = await post_stream(client, "/v1/chat/completions", streamed_body)
    chunks = [json.loads(e) for e in events[:-1]]
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert streamed == choice["message"]["content"]
    assert chunks[-1]["choices"][0]["stop_reason"] == stop


async def test_x_request_id_is_echoed_and_used(client: httpx.AsyncClient) -> None:
    headers = {"X-Request-Id": "trace-42"}
    response = await client.post(
        "/v1/chat/completions", json={**CHAT, "max_tokens": 2}, headers=headers
    )
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["id"] == "chatcmpl-trace-42"
    stream = await client.post(
        "/v1/completions",
        json={"model": MODEL, "prompt": "hi", "max_tokens": 2, "stream": True},
        headers=headers,
    )
    assert stream.headers["x-request-id"] == "trace-42"
    assert json.loads(sse_events(stream.text)[0])["id"] == "cmpl-trace-42"


# --- models, tokenize, embeddings -----------------------------------------------------------


async def test_models_list_base_and_lora(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/models")).json()
    assert body["object"] == "list"
    base, lora = body["data"]
    assert base["id"] == MODEL
    assert base["parent"] is None
    assert base["root"] == MODEL
    assert base["owned_by"] == "vllm"
    assert base["object"] == "model"
    assert base["max_model_len"] == 4096
    assert isinstance(base["permission"], list)
    assert lora["id"] == "sql-lora"
    assert lora["parent"] == MODEL
    assert lora["root"] == "/adapters/sql"


async def test_lora_model_serves(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", json={**CHAT, "model": "sql-lora", "max_tokens": 3}
    )
    assert response.status_code == 200
    assert response.json()["model"] == "sql-lora"


async def test_tokenize_prompt_and_messages_and_detokenize(client: httpx.AsyncClient) -> None:
    prompt = (await client.post("/tokenize", json={"prompt": "Hello world"})).json()
    assert prompt == {
        "count": 2,
        "max_model_len": 4096,
        "tokens": prompt["tokens"],
        "token_strs": None,
    }
    with_strs = await client.post(
        "/tokenize", json={"model": MODEL, "prompt": "Hello world", "return_token_strs": True}
    )
    assert with_strs.json()["token_strs"] == ["Hello", " world"]
    chat = (await client.post("/tokenize", json={"messages": CHAT["messages"]})).json()
    assert chat["count"] == CHAT_TOKENS  # the ChatML-rendered prompt the chat endpoint counts
    plain = await client.post(
        "/tokenize", json={"messages": CHAT["messages"], "add_generation_prompt": False}
    )
    assert plain.json()["count"] == chat["count"] - 3  # "<|im_start|>assistant\n"
    back = await client.post("/detokenize", json={"tokens": prompt["tokens"]})
    assert back.json() == {"prompt": "Hello world"}


async def test_embeddings_are_deterministic_unit_vectors(client: httpx.AsyncClient) -> None:
    body = {"model": MODEL, "input": ["a cat sat", "a cat sat", "tax law"]}
    response = (await client.post("/v1/embeddings", json=body)).json()
    vectors = [item["embedding"] for item in response["data"]]
    assert [item["index"] for item in response["data"]] == [0, 1, 2]
    assert all(len(v) == 384 for v in vectors)
    assert all(abs(sum(x * x for x in v) - 1.0) < 1e-9 for v in vectors)
    assert vectors[0] == vectors[1] != vectors[2]
    assert response["usage"]["prompt_tokens"] == response["usage"]["total_tokens"] > 0


# --- errors -------------------------------------------------------------------------------


def assert_error(response: httpx.Response, status: int, err_type: str, param: str | None) -> None:
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"], error["code"]) == (err_type, param, status)
    assert error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param(b"{not json", None, id="malformed-json"),
        pytest.param(b"[1, 2]", None, id="not-an-object"),
        pytest.param({**CHAT, "max_tokens": "ten"}, "max_tokens", id="max-tokens-string"),
        pytest.param({**CHAT, "stream": "yes"}, "stream", id="stream-string"),
        pytest.param({**CHAT, "messages": "hi"}, "messages", id="messages-string"),
        pytest.param({**CHAT, "n": 0}, "n", id="n-zero"),
        pytest.param({**CHAT, "stop": 3}, "stop", id="stop-int"),
        pytest.param({**CHAT, "stream_options": {}}, "stream_options", id="options-no-stream"),
        pytest.param({**CHAT, "priority": 1}, "priority", id="priority-under-fcfs"),
    ],
)
async def test_bad_requests_are_400(
    client: httpx.AsyncClient, body: bytes | dict[str, Any], param: str | None
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await client.post("/v1/chat/completions", content=content)
    assert_error(response, 400, "BadRequestError", param)


async def test_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-9"})
    assert_error(response, 404, "NotFoundError", "model")
    assert "gpt-9" in response.json()["error"]["message"]


async def test_too_long_prompt_is_400_input_tokens(client: httpx.AsyncClient) -> None:
    long_prompt = " the" * 4000
    response = await client.post(
        "/v1/completions", json={"model": MODEL, "prompt": long_prompt, "max_tokens": 200}
    )
    assert_error(response, 400, "BadRequestError", "input_tokens")
    assert "4096" in response.json()["error"]["message"]


async def test_unknown_fields_are_accepted(client: httpx.AsyncClient) -> None:
    body = {**CHAT, "max_tokens": 2, "temperature": 0.3, "logprobs": True, "x_custom": [1]}
    assert (await client.post("/v1/chat/completions", json=body)).status_code == 200


# --- the official SDK ---------------------------------------------------------------------


async def test_openai_sdk_streams_and_completes(app: FastAPI) -> None:
    # The SDK ships its own httpx fork (httpx2), with the same ASGI transport.
    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sim")
    sdk = openai.AsyncOpenAI(base_url="http://sim/v1", api_key="none", http_client=http_client)
    async with sdk:
        stream = await sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=5,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens == 5
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        done = await sdk.completions.create(model=MODEL, prompt="hi", max_tokens=5)
        assert done.choices[0].finish_reason == "length"
        assert text
        assert done.choices[0].text
        models = await sdk.models.list()
        assert [m.id for m in models.data] == [MODEL, "sql-lora"]

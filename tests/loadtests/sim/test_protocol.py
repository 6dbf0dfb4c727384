"""Request parsing: the fields honoured, their types, and vLLM's error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loadtests.sim.protocol import (
    SimHTTPError,
    parse_body,
    parse_chat,
    parse_completion,
    parse_detokenize,
    parse_embedding,
    parse_tokenize,
)

MESSAGES = [{"role": "user", "content": "hi"}]


def test_chat_fields_are_honoured() -> None:
    chat = parse_chat(
        {
            "model": "m",
            "messages": MESSAGES,
            "max_completion_tokens": 9,
            "max_tokens": 99,
            "n": 2,
            "stop": "END",
            "ignore_eos": True,
            "min_tokens": 3,
            "priority": -1,
            "cache_salt": "s",
            "seed": 5,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.2,
        }
    )
    sampling = chat.sampling
    assert chat.model == "m"
    assert sampling.max_tokens == 9  # max_completion_tokens wins
    assert (sampling.n, sampling.stop, sampling.ignore_eos, sampling.min_tokens) == (
        2,
        ("END",),
        True,
        3,
    )
    assert (sampling.priority, sampling.cache_salt, sampling.seed) == (-1, "s", 5)
    assert sampling.stream
    assert sampling.include_usage


def test_defaults() -> None:
    sampling = parse_chat({"messages": MESSAGES}).sampling
    assert sampling.max_tokens is None
    assert (sampling.n, sampling.stop, sampling.stream, sampling.include_usage) == (
        1,
        (),
        False,
        False,
    )


def test_completion_prompt_forms() -> None:
    assert parse_completion({"prompt": "a"}).prompts == ("a",)
    assert parse_completion({"prompt": ["a", "b"]}).prompts == ("a", "b")
    assert parse_completion({"prompt": [1, 2]}).prompts == ((1, 2),)
    assert parse_completion({"prompt": [[1], [2, 3]]}).prompts == ((1,), (2, 3))
    assert parse_completion({"prompt": "a", "echo": True}).echo


@pytest.mark.parametrize(
    ("parse", "body", "param"),
    [
        pytest.param(parse_chat, {"messages": []}, "messages", id="no-messages"),
        pytest.param(parse_chat, {"messages": [{"content": "x"}]}, "messages", id="no-role"),
        pytest.param(parse_chat, {"messages": [{"role": "user", "content": 1}]}, "messages",
                     id="content-int"),
        pytest.param(parse_chat, {"messages": MESSAGES, "max_tokens": 0}, "max_tokens",
                     id="max-tokens-0"),
        pytest.param(parse_chat, {"messages": MESSAGES, "max_tokens": True}, "max_tokens",
                     id="max-tokens-bool"),
        pytest.param(parse_chat, {"messages": MESSAGES, "min_tokens": 5, "max_tokens": 2},
                     "min_tokens", id="min-over-max"),
        pytest.param(parse_chat, {"messages": MESSAGES, "cache_salt": ""}, "cache_salt",
                     id="empty-salt"),
        pytest.param(parse_chat, {"messages": MESSAGES, "seed": 1.5}, "seed", id="seed-float"),
        pytest.param(parse_chat, {"messages": MESSAGES, "stop": ["a", 1]}, "stop",
                     id="stop-mixed"),
        pytest.param(parse_chat, {"messages": MESSAGES, "model": 3}, "model", id="model-int"),
        pytest.param(parse_completion, {}, "prompt", id="no-prompt"),
        pytest.param(parse_completion, {"prompt": [-1]}, "prompt", id="negative-token"),
        pytest.param(parse_completion, {"prompt": {"a": 1}}, "prompt", id="prompt-object"),
        pytest.param(parse_embedding, {"input": "x", "encoding_format": "hex"},
                     "encoding_format", id="embedding-format"),
        pytest.param(parse_tokenize, {}, "prompt", id="tokenize-nothing"),
        pytest.param(parse_tokenize, {"prompt": "a", "messages": MESSAGES}, "prompt",
                     id="tokenize-both"),
        pytest.param(parse_detokenize, {"tokens": "abc"}, "tokens", id="detokenize-str"),
    ],
)  # fmt: skip
def test_bad_fields_are_400_naming_the_param(parse: Any, body: dict[str, Any], param: str) -> None:
    with pytest.raises(SimHTTPError) as info:
        parse(body)
    assert info.value.status == 400
    assert info.value.param == param


def test_error_body_is_vllm_shaped() -> None:
    with pytest.raises(SimHTTPError) as info:
        parse_body(b"{oops")
    body = json.loads(info.value.body())
    assert set(body) == {"error"}
    assert body["error"]["type"] == "BadRequestError"
    assert body["error"]["code"] == 400
    assert body["error"]["param"] is None
    assert body["error"]["message"]
    assert SimHTTPError(503, "x").payload()["error"] == {
        "message": "x",
        "type": "ServiceUnavailableError",
        "param": None,
        "code": 503,
    }


def test_tokenize_forms() -> None:
    prompt = parse_tokenize({"prompt": "a", "return_token_strs": True})
    assert prompt.prompt == "a"
    assert prompt.return_token_strs
    messages = parse_tokenize({"messages": MESSAGES, "add_generation_prompt": False})
    assert messages.messages == tuple(MESSAGES)
    assert not messages.add_generation_prompt

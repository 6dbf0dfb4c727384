"""Request parsing and the error shape: OpenAI/vLLM JSON bodies into frozen views.

Plain parsing (no pydantic on the hot path): each field is type-checked on its own and a bad
one raises `SimHTTPError` 400 naming it in `param`. Unknown fields are accepted and ignored,
as vLLM does. Errors render as vLLM's `ErrorResponse`:
`{"error": {"message", "type", "param", "code"}}` with `code` the HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from loadtests.sim.faults import error_type_for

JSONObject = Mapping[str, object]
Prompt = str | tuple[int, ...]

MAX_N = 128


class SimHTTPError(Exception):
    """An error answered to the client before any response byte (HTTP status + JSON body)."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, err_type: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.err_type = err_type or error_type_for(status)

    def payload(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.err_type,
                "param": self.param,
                "code": self.status,
            }
        }

    def body(self) -> bytes:
        return json.dumps(self.payload(), ensure_ascii=False).encode()


def bad_request(message: str, param: str | None = None) -> SimHTTPError:
    return SimHTTPError(400, message, param=param)


def model_not_found(model: str) -> SimHTTPError:
    return SimHTTPError(404, f"The model `{model}` does not exist.", param="model")


def parse_body(raw: bytes) -> JSONObject:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"JSON decode error: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


# --- typed field access -------------------------------------------------------------------


def _int(body: JSONObject, name: str, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{name}' must be an integer, got {value!r}.", name)
    return value


def _opt_int(body: JSONObject, name: str) -> int | None:
    return None if body.get(name) is None else _int(body, name, 0)


def _bool(body: JSONObject, name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be a boolean, got {value!r}.", name)
    return value


def _opt_str(body: JSONObject, name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string, got {value!r}.", name)
    return value


def _object(body: JSONObject, name: str) -> JSONObject | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f"'{name}' must be an object.", name)
    return value


def _token_ids(value: object, name: str) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value
    ):
        return None
    return tuple(value)


# --- sampling -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sampling:
    """The generation fields the simulator honours (others are accepted and ignored)."""

    max_tokens: int | None = None
    min_tokens: int = 0
    n: int = 1
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    seed: int | None = None
    priority: int = 0
    cache_salt: str | None = None
    stream: bool = False
    include_usage: bool = False


def _stop(body: JSONObject) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise bad_request("'stop' must be a string or a list of strings.", "stop")


def _sampling(body: JSONObject, *, max_tokens_field: str | None) -> Sampling:
    max_tokens = _opt_int(body, max_tokens_field) if max_tokens_field else None
    if max_tokens is None:
        max_tokens = _opt_int(body, "max_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise bad_request(f"max_tokens must be at least 1, got {max_tokens}.", "max_tokens")
    n = _int(body, "n", 1)
    if not 1 <= n <= MAX_N:
        raise bad_request(f"n must be between 1 and {MAX_N}, got {n}.", "n")
    min_tokens = _int(body, "min_tokens", 0)
    if min_tokens < 0 or (max_tokens is not None and min_tokens > max_tokens):
        raise bad_request(
            f"min_tokens must be >= 0 and <= max_tokens={max_tokens}, got {min_tokens}.",
            "min_tokens",
        )
    stream = _bool(body, "stream", False)
    options = _object(body, "stream_options")
    if options is not None and not stream:
        raise bad_request(
            "Stream options can only be defined when `stream=True`.", "stream_options"
        )
    include_usage = options is not None and _bool(options, "include_usage", True)
    cache_salt = _opt_str(body, "cache_salt")
    if cache_salt == "":
        raise bad_request(
            "Parameter 'cache_salt' must be a non-empty string if provided.", "cache_salt"
        )
    return Sampling(
        max_tokens=max_tokens,
        min_tokens=min_tokens,
        n=n,
        stop=_stop(body),
        ignore_eos=_bool(body, "ignore_eos", False),
        seed=_opt_int(body, "seed"),
        priority=_int(body, "priority", 0),
        cache_salt=cache_salt,
        stream=stream,
        include_usage=include_usage,
    )


# --- endpoints ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatRequest:
    model: str | None
    messages: tuple[JSONObject, ...]
    tools: tuple[object, ...] | None
    add_generation_prompt: bool
    sampling: Sampling


@dataclass(frozen=True)
class CompletionRequest:
    model: str | None
    prompts: tuple[Prompt, ...]
    echo: bool
    sampling: Sampling


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str | None
    inputs: tuple[Prompt, ...]
    encoding_format: Literal["float", "base64"]
    dimensions: int | None


@dataclass(frozen=True)
class TokenizeRequest:
    model: str | None
    prompt: str | None
    messages: tuple[JSONObject, ...] | None
    tools: tuple[object, ...] | None
    add_generation_prompt: bool
    return_token_strs: bool


@dataclass(frozen=True)
class DetokenizeRequest:
    model: str | None
    tokens: tuple[int, ...]


def _messages(value: object) -> tuple[JSONObject, ...]:
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty list of messages.", "messages")
    for message in value:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise bad_request("Each message must be an object with a string 'role'.", "messages")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise bad_request("Message 'content' must be a string or a list of parts.", "messages")
    return tuple(value)


def _tools(body: JSONObject) -> tuple[object, ...] | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise bad_request("'tools' must be a list.", "tools")
    return tuple(tools)


def _prompts(value: object, name: str) -> tuple[Prompt, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value:
        if all(isinstance(p, str) for p in value):
            return tuple(str(p) for p in value)
        single = _token_ids(value, name)
        if single is not None:
            return (single,)
        many = [_token_ids(p, name) for p in value]
        if all(p is not None and p for p in many):
            return tuple(p for p in many if p is not None)
    raise bad_request(
        f"'{name}' must be a string, a list of strings, a list of token ids "
        "or a list of lists of token ids.",
        name,
    )


def parse_chat(body: JSONObject) -> ChatRequest:
    return ChatRequest(
        model=_opt_str(body, "model"),
        messages=_messages(body.get("messages")),
        tools=_tools(body),
        add_generation_prompt=_bool(body, "add_generation_prompt", True),
        sampling=_sampling(body, max_tokens_field="max_completion_tokens"),
    )


def parse_completion(body: JSONObject) -> CompletionRequest:
    if body.get("prompt") is None:
        raise bad_request("'prompt' is required.", "prompt")
    return CompletionRequest(
        model=_opt_str(body, "model"),
        prompts=_prompts(body.get("prompt"), "prompt"),
        echo=_bool(body, "echo", False),
        sampling=_sampling(body, max_tokens_field=None),
    )


def parse_embedding(body: JSONObject) -> EmbeddingRequest:
    if body.get("input") is None:
        raise bad_request("'input' is required.", "input")
    encoding = _opt_str(body, "encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise bad_request("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    dimensions = _opt_int(body, "dimensions")
    if dimensions is not None and dimensions < 1:
        raise bad_request("'dimensions' must be at least 1.", "dimensions")
    return EmbeddingRequest(
        model=_opt_str(body, "model"),
        inputs=_prompts(body.get("input"), "input"),
        encoding_format="base64" if encoding == "base64" else "float",
        dimensions=dimensions,
    )


def parse_tokenize(body: JSONObject) -> TokenizeRequest:
    has_messages = body.get("messages") is not None
    prompt = _opt_str(body, "prompt")
    if has_messages == (prompt is not None):
        raise bad_request("Exactly one of 'prompt' or 'messages' is required.", "prompt")
    return TokenizeRequest(
        model=_opt_str(body, "model"),
        prompt=prompt,
        messages=_messages(body.get("messages")) if has_messages else None,
        tools=_tools(body),
        add_generation_prompt=_bool(body, "add_generation_prompt", True),
        return_token_strs=_bool(body, "return_token_strs", False),
    )


def parse_detokenize(body: JSONObject) -> DetokenizeRequest:
    tokens = _token_ids(body.get("tokens"), "tokens")
    if tokens is None:
        raise bad_request("'tokens' must be a list of token ids.", "tokens")
    return DetokenizeRequest(model=_opt_str(body, "model"), tokens=tokens)

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequestError
from gateway.openai.request_view import parse_request
from gateway.types import RequestKind

CHAT, COMPLETION, EMBEDDING = RequestKind.CHAT, RequestKind.COMPLETION, RequestKind.EMBEDDING
MESSAGES = b'"messages":[{"role":"user","content":"hi"}]'


def _body(*parts: bytes) -> bytes:
    return b"{" + b",".join(parts) + b"}"


@pytest.mark.parametrize(
    ("kind", "body", "param"),
    [
        pytest.param(CHAT, b"{not json", None, id="malformed-json"),
        pytest.param(CHAT, b"\xff\xfe", None, id="not-utf8"),
        pytest.param(CHAT, b"[1, 2]", None, id="array-body"),
        pytest.param(CHAT, _body(MESSAGES), "model", id="missing-model"),
        pytest.param(CHAT, _body(b'"model":42', MESSAGES), "model", id="model-not-string"),
        pytest.param(CHAT, _body(b'"model":"m"'), "messages", id="missing-messages"),
        pytest.param(CHAT, _body(b'"model":"m","messages":[]'), "messages", id="empty-messages"),
        pytest.param(CHAT, _body(b'"model":"m","messages":["hi"]'), "messages", id="message-str"),
        pytest.param(
            CHAT, _body(b'"model":"m"', MESSAGES, b'"stream":"yes"'), "stream", id="stream"
        ),
        pytest.param(
            CHAT, _body(b'"model":"m"', MESSAGES, b'"max_tokens":"9"'), "max_tokens", id="max-tok"
        ),
        pytest.param(
            CHAT, _body(b'"model":"m"', MESSAGES, b'"max_tokens":true'), "max_tokens", id="bool-int"
        ),
        pytest.param(CHAT, _body(b'"model":"m"', MESSAGES, b'"n":0'), "n", id="n-zero"),
        pytest.param(
            CHAT,
            _body(b'"model":"m"', MESSAGES, b'"stream_options":[]'),
            "stream_options",
            id="stream-options-array",
        ),
        pytest.param(
            CHAT,
            _body(b'"model":"m"', MESSAGES, b'"stream_options":{"include_usage":1}'),
            "include_usage",
            id="include-usage-int",
        ),
        pytest.param(COMPLETION, _body(b'"model":"m"'), "prompt", id="missing-prompt"),
        pytest.param(COMPLETION, _body(b'"model":"m","prompt":7'), "prompt", id="prompt-int"),
        pytest.param(COMPLETION, _body(b'"model":"m","prompt":[]'), "prompt", id="prompt-empty"),
        pytest.param(
            COMPLETION, _body(b'"model":"m","prompt":["a",1]'), "prompt", id="prompt-mixed"
        ),
        pytest.param(EMBEDDING, _body(b'"model":"m"'), "input", id="missing-input"),
    ],
)
def test_rejects_with_param(kind: RequestKind, body: bytes, param: str | None) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(kind, body, request_id="r")
    assert caught.value.status_code == 400
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        pytest.param(
            CHAT,
            _body(b'"model":"m"', MESSAGES),
            {"stream": False, "include_usage": False, "max_tokens": None, "n": 1},
            id="chat-defaults",
        ),
        pytest.param(
            CHAT,
            _body(
                b'"model":"m"',
                MESSAGES,
                b'"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"n":2',
            ),
            {"stream": True, "include_usage": True, "max_tokens": 5, "n": 2},
            id="chat-stream-usage",
        ),
        pytest.param(
            CHAT,
            _body(b'"model":"m"', MESSAGES, b'"max_tokens":5,"max_completion_tokens":9'),
            {"max_tokens": 9},
            id="max-completion-tokens-wins",
        ),
        pytest.param(
            COMPLETION,
            _body(b'"model":"m","prompt":[[1,2],[3]],"stream":null,"priority":-3'),
            {"stream": False, "prompt": [[1, 2], [3]], "priority": -3},
            id="completion-token-arrays",
        ),
        pytest.param(
            EMBEDDING,
            _body(b'"model":"m","input":["a","b"],"stream":true'),
            {"stream": False, "prompt": ["a", "b"]},
            id="embedding-never-streams",
        ),
        pytest.param(
            EMBEDDING,
            _body(b'"model":"m"', MESSAGES),
            {"prompt": None, "messages": [{"role": "user", "content": "hi"}]},
            id="embedding-of-messages",
        ),
    ],
)
def test_parses(kind: RequestKind, body: bytes, expected: dict[str, object]) -> None:
    request = parse_request(kind, body, request_id="r")
    assert request.body is body
    assert request.model == "m"
    for name, value in expected.items():
        assert getattr(request, name) == value, name


def test_unknown_fields_are_kept() -> None:
    body = _body(b'"model":"m"', MESSAGES, b'"tools":[{"type":"function"}],"x_new_field":{"a":1}')
    request = parse_request(CHAT, body, request_id="r")
    assert request.fields["x_new_field"] == {"a": 1}
    assert request.body == body

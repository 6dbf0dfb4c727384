from __future__ import annotations

import orjson
import pytest

from gateway.errors import (
    AuthenticationError,
    BodyTooLargeError,
    GatewayError,
    InvalidRequestError,
    ModelNotFoundError,
    NoReadyEngineError,
    UpstreamDisconnectedError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)


@pytest.mark.parametrize(
    ("error", "status", "error_type", "code"),
    [
        pytest.param(GatewayError("x"), 500, "server_error", "internal_error", id="base"),
        pytest.param(InvalidRequestError("x"), 400, "invalid_request_error", None, id="invalid"),
        pytest.param(
            BodyTooLargeError("x"), 413, "invalid_request_error", "request_too_large", id="413"
        ),
        pytest.param(
            ModelNotFoundError("m"), 404, "invalid_request_error", "model_not_found", id="404"
        ),
        pytest.param(
            AuthenticationError("x"), 401, "invalid_request_error", "invalid_api_key", id="401"
        ),
        pytest.param(
            UpstreamUnreachableError("x"), 502, "server_error", "upstream_unreachable", id="502"
        ),
        pytest.param(
            UpstreamDisconnectedError("x"), 502, "server_error", "upstream_disconnected", id="drop"
        ),
        pytest.param(NoReadyEngineError("x"), 503, "server_error", "no_ready_engine", id="503"),
        pytest.param(UpstreamTimeoutError("x"), 504, "server_error", "upstream_timeout", id="504"),
    ],
)
def test_status_type_and_code(
    error: GatewayError, status: int, error_type: str, code: str | None
) -> None:
    assert error.status_code == status
    body = orjson.loads(error.to_json())
    assert set(body) == {"error"}
    assert body["error"]["type"] == error_type
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"message", "type", "param", "code"}


def test_model_not_found_names_the_param() -> None:
    assert orjson.loads(ModelNotFoundError("m").to_json())["error"]["param"] == "model"


def test_sse_event_framing() -> None:
    event = UpstreamTimeoutError("slow").to_sse_event()
    assert event.startswith(b"data: {")
    assert event.endswith(b"}\n\n")
    assert orjson.loads(event[6:])["error"]["message"] == "slow"

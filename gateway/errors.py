"""The gateway's exception tree; every error maps to one HTTP status and OpenAI error type.

```
GatewayError                         500 server_error
├── InvalidRequestError              400 invalid_request_error
│   ├── BodyTooLargeError            413 invalid_request_error / request_too_large
│   ├── ModelNotFoundError           404 invalid_request_error / model_not_found
│   └── GuardRefusalError            400 invalid_request_error (a safety guard blocked it)
│       ├── PromptInjectionError     400 invalid_request_error / prompt_injection_detected
│       ├── SensitiveDataError       400 invalid_request_error / pii_detected
│       └── ContentFilterError       400 invalid_request_error / content_filter
├── AuthenticationError              401 invalid_request_error / invalid_api_key
├── TenantPolicyError                403 permission_error / tenant_policy_violation
├── RequestCancelledError            503 server_error / request_cancelled
├── GuardUnavailableError            503 server_error / guard_unavailable
└── UpstreamError                    502 server_error / upstream_error
    ├── UpstreamUnreachableError     502 server_error / upstream_unreachable (retryable)
    ├── UpstreamDisconnectedError    502 server_error / upstream_disconnected (retryable)
    ├── NoReadyEngineError           503 server_error / no_ready_engine
    └── UpstreamTimeoutError         504 server_error / upstream_timeout
```

The body is OpenAI's: `{"error": {"message", "type", "param", "code"}}`; vLLM answers in the
same shape, so a client sees one error format whether the gateway or an engine rejected it.
"""

from __future__ import annotations

import orjson


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    status_code = 500
    error_type = "server_error"
    code: str | None = "internal_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def payload(self) -> dict[str, str | int | None]:
        return {
            "message": self.message,
            "type": self.error_type,
            "param": self.param,
            "code": self.code,
        }

    def to_json(self) -> bytes:
        return orjson.dumps({"error": self.payload()})

    def to_sse_event(self) -> bytes:
        """The error as one SSE event, as vLLM frames a failure inside a stream."""
        return b"data: " + self.to_json() + b"\n\n"


class InvalidRequestError(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"
    code: str | None = None


class BodyTooLargeError(InvalidRequestError):
    status_code = 413
    code = "request_too_large"


class ModelNotFoundError(InvalidRequestError):
    status_code = 404
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model `{model}` does not exist.", param="model")


class GuardRefusalError(InvalidRequestError):
    """A safety guard refused the request or the answer; nothing more is forwarded."""

    code: str | None = "content_filter"


class PromptInjectionError(GuardRefusalError):
    code = "prompt_injection_detected"


class SensitiveDataError(GuardRefusalError):
    code = "pii_detected"


class ContentFilterError(GuardRefusalError):
    """Input an external classifier judged unsafe, or output that broke an output rule."""

    code = "content_filter"


class AuthenticationError(GatewayError):
    status_code = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class TenantPolicyError(GatewayError):
    """The key is valid, but its tenant's allow-list does not grant what the request asks."""

    status_code = 403
    error_type = "permission_error"
    code = "tenant_policy_violation"


class RequestCancelledError(GatewayError):
    """The gateway gave up on a running request (its drain deadline passed at shutdown)."""

    status_code = 503
    code = "request_cancelled"


class GuardUnavailableError(GatewayError):
    """A fail-closed guard could not give a verdict (its classifier timed out or failed)."""

    status_code = 503
    code = "guard_unavailable"


class UpstreamError(GatewayError):
    status_code = 502
    code = "upstream_error"


class UpstreamUnreachableError(UpstreamError):
    """No connection to the engine: it is down or refuses connections. Safe to retry."""

    code = "upstream_unreachable"


class UpstreamDisconnectedError(UpstreamError):
    """The engine closed the connection before sending a response head. Safe to retry."""

    code = "upstream_disconnected"


class NoReadyEngineError(UpstreamError):
    status_code = 503
    code = "no_ready_engine"


class UpstreamTimeoutError(UpstreamError):
    status_code = 504
    code = "upstream_timeout"

"""Error responses the gateway writes itself, in OpenAI's shape."""

from __future__ import annotations

from gateway.errors import GatewayError
from gateway.proxy.headers import REQUEST_ID
from gateway.proxy.interfaces import ResponseWriter

_JSON = (b"content-type", b"application/json")


async def write_error(writer: ResponseWriter, error: GatewayError, request_id: str) -> None:
    body = error.to_json()
    headers = [
        _JSON,
        (b"content-length", str(len(body)).encode()),
        (REQUEST_ID, request_id.encode()),
    ]
    await writer.start(error.status_code, headers)
    await writer.end(body)

"""Read a request body from ASGI `receive`, refusing it as soon as it exceeds the limit."""

from __future__ import annotations

from starlette.types import Receive

from gateway.errors import BodyTooLargeError
from gateway.types import RawHeaders


class ClientDisconnected(Exception):
    """The client went away before its request body was complete; nobody to answer."""


def _too_large(limit: int) -> BodyTooLargeError:
    return BodyTooLargeError(f"The request body exceeds the limit of {limit} bytes.")


async def read_body(headers: RawHeaders, receive: Receive, *, limit: int) -> bytes:
    """The whole body; `BodyTooLargeError` (413) past `limit` bytes, declared or received."""
    for name, value in headers:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)

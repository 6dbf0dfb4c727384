"""`ResponseWriter` over a raw ASGI `send`: each chunk goes out as one body message."""

from __future__ import annotations

from starlette.types import Send

from gateway.proxy.interfaces import ResponseWriter
from gateway.types import RawHeaders


class AsgiResponseWriter(ResponseWriter):
    def __init__(self, send: Send) -> None:
        self._send = send
        self._started = False
        self.finished = False

    @property
    def started(self) -> bool:
        return self._started

    async def start(self, status: int, headers: RawHeaders) -> None:
        self._started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, chunk: bytes) -> None:
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def end(self, chunk: bytes = b"") -> None:
        # Set before sending: once the last message is out, `receive()` reports a disconnect
        # that must not be mistaken for the client leaving early.
        self.finished = True
        await self._send({"type": "http.response.body", "body": chunk, "more_body": False})

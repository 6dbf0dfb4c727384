"""Extension points of the proxy: the engine side (an HTTP client) and the client side."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from gateway.types import RawHeaders


class UpstreamResponse(Protocol):
    """An engine's response whose head has arrived and whose body is still to be read."""

    @property
    def status(self) -> int: ...

    @property
    def raw_headers(self) -> Sequence[tuple[bytes, bytes]]:
        """As received: original case and order."""
        ...

    @property
    def content_type(self) -> str | None: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive, undecoded.

        A body the engine breaks off raises `UpstreamDisconnectedError`.
        """
        ...

    async def aclose(self) -> None:
        """Release the connection: back to the pool if the body was read, else closed
        (which is how the engine learns to abort). Idempotent."""
        ...


class UpstreamTransport(Protocol):
    """One shared keep-alive HTTP client for every engine."""

    async def post(self, url: str, body: bytes, headers: RawHeaders) -> UpstreamResponse:
        """Send and wait for the response head, without any read deadline (the caller sets
        them). Raises `UpstreamUnreachableError`, `UpstreamDisconnectedError` or
        `UpstreamError`."""
        ...

    async def aclose(self) -> None: ...


class ResponseWriter(Protocol):
    """Writes one HTTP response to the client, in order: `start`, `write`…, `end`."""

    @property
    def started(self) -> bool:
        """Whether the status line went out; after that, errors can only go in-band."""
        ...

    async def start(self, status: int, headers: RawHeaders) -> None: ...

    async def write(self, chunk: bytes) -> None: ...

    async def end(self, chunk: bytes = b"") -> None: ...

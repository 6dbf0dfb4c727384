"""Extension points of authentication."""

from __future__ import annotations

from typing import Protocol

from gateway.types import Principal


class Authenticator(Protocol):
    def authenticate(self, authorization: bytes | None) -> Principal:
        """Map an `Authorization` header value to a principal.

        Raise `AuthenticationError` (401) when the credentials are missing or wrong.
        Synchronous and cheap: it runs on the event loop for every request.
        """
        ...

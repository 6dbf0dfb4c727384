"""Small value types shared by every layer of the gateway."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

EndpointId: TypeAlias = str
RequestClass: TypeAlias = str
RawHeaders: TypeAlias = list[tuple[bytes, bytes]]
"""ASGI-style headers: lower-case names, values as received, order kept."""


class RequestKind(enum.Enum):
    """The OpenAI operations the gateway proxies; the value is the upstream path."""

    CHAT = "/v1/chat/completions"
    COMPLETION = "/v1/completions"
    EMBEDDING = "/v1/embeddings"

    @property
    def path(self) -> str:
        return self.value

    @property
    def route(self) -> str:
        """A short, bounded metric label."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request. `tenant` is stable per API key and never reveals the key."""

    tenant: str
    authenticated: bool


ANONYMOUS = Principal(tenant="anonymous", authenticated=False)


@dataclass(frozen=True, slots=True)
class ClientCall:
    """One client request as the API layer received it: nothing parsed yet but the route."""

    kind: RequestKind
    request_id: str
    headers: RawHeaders
    body: bytes
    received_at: float
    """Event-loop time of arrival; every deadline and duration counts from here."""

    def header(self, name: bytes) -> bytes | None:
        """The first value of header `name` (lower-case), if any."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

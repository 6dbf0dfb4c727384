"""The immutable parsed view of one inference request."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.types import ANONYMOUS, Principal, RawHeaders, RequestKind


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    """What the gateway knows about a request after parsing its body once.

    `body` is the exact bytes the client sent; it is what the engine receives, so fields
    the gateway does not know about pass through. `fields` is the parsed JSON object, to
    be read, never mutated. `messages` (chat) and `prompt` (completion, embedding input)
    point into `fields`. `headers` are the client's, as received (lower-case names).
    """

    request_id: str
    kind: RequestKind
    model: str
    body: bytes
    fields: Mapping[str, object]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    n: int = 1
    priority: int = 0
    messages: Sequence[object] | None = None
    prompt: object = None
    principal: Principal = ANONYMOUS
    session_id: str | None = None
    headers: RawHeaders = dataclasses.field(default_factory=list)

    @property
    def tenant(self) -> str:
        return self.principal.tenant

    def header(self, name: bytes) -> bytes | None:
        """The first value of header `name` (lower-case), if any."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def with_principal(self, principal: Principal) -> InferenceRequest:
        return dataclasses.replace(self, principal=principal)

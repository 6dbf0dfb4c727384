"""Extension points of safety: a guard before routing and an inspector per response."""

from __future__ import annotations

from typing import Protocol

from gateway.routing.request import InferenceRequest


class InputGuard(Protocol):
    async def check(self, request: InferenceRequest) -> InferenceRequest:
        """Return the request to route (unchanged, or redacted), or raise a `GatewayError`."""
        ...


class OutputInspector(Protocol):
    def observe(self, chunk: bytes) -> None:
        """See each response chunk exactly as relayed. Runs per chunk: keep it cheap."""
        ...


class OutputGuard(Protocol):
    def inspector(self, request: InferenceRequest) -> OutputInspector | None:
        """A fresh inspector for one response, or `None` when nothing needs watching."""
        ...

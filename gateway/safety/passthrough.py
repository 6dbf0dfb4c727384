"""Guards that allow everything: the defaults until safety rules are configured."""

from __future__ import annotations

from gateway.routing.request import InferenceRequest
from gateway.safety.interfaces import InputGuard, OutputGuard, OutputInspector


class AllowAllInput(InputGuard):
    async def check(self, request: InferenceRequest) -> InferenceRequest:
        return request


class IgnoreOutput(OutputGuard):
    def inspector(self, request: InferenceRequest) -> OutputInspector | None:
        return None

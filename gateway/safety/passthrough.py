"""Guards that allow everything: for deployments (and tests) that turn safety off."""

from __future__ import annotations

from gateway.routing.request import InferenceRequest
from gateway.safety.interfaces import InputDecision, InputGuard, OutputGuard, OutputInspector


class AllowAllInput(InputGuard):
    async def check(self, request: InferenceRequest) -> InputDecision:
        return InputDecision(request)


class IgnoreOutput(OutputGuard):
    def inspector(self, request: InferenceRequest) -> OutputInspector | None:
        return None

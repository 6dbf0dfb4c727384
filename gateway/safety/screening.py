"""The input stage: the request's profile of input guards, run in order before routing.

Local guards (pure, synchronous) run first, each over the text the previous ones left
(redactions included); the request is rewritten once if any of them changed it; then remote
guards (classifiers) see that rewritten request. The first refusal stops the chain. A long
prompt's local guards run on a worker thread, so a 100k-token paste does not stall the
event loop for every other request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway.errors import GatewayError
from gateway.routing.request import InferenceRequest
from gateway.safety.interfaces import GuardResult, GuardVerdict, InputDecision, InputGuard
from gateway.safety.runtime import GuardProfile, SafetyRuntime
from gateway.safety.texts import Path, Segment, request_segments, rewritten

OFFLOAD_CHARS = 64 * 1024
"""Text (characters) from which local guards run off the event loop."""


class PolicyInputGuard(InputGuard):
    def __init__(self, runtime: Callable[[], SafetyRuntime]) -> None:
        """`runtime` returns the safety runtime in force (read once per request)."""
        self._runtime = runtime

    async def check(self, request: InferenceRequest) -> InputDecision:
        profile = self._runtime().profile_for(request.tenant, request.model)
        if not (profile.local or profile.remote):
            return InputDecision(request)
        segments = list(request_segments(request))
        screening = _Screening(request, segments)
        if sum(len(segment.text) for segment in segments) >= OFFLOAD_CHARS:
            await asyncio.to_thread(screening.run_local, profile)
        else:
            screening.run_local(profile)
        if screening.refusal is None:
            screening.rewrite()
            for guard in profile.remote:
                if screening.take(await guard.assess(screening.request, screening.segments)):
                    break
        return InputDecision(screening.request, tuple(screening.verdicts), screening.refusal)


class _Screening:
    """One request's way through its input guards (used by one task at a time)."""

    def __init__(self, request: InferenceRequest, segments: list[Segment]) -> None:
        self.request = request
        self.segments = segments
        self.verdicts: list[GuardVerdict] = []
        self.refusal: GatewayError | None = None
        self._texts: dict[Path, str] = {}
        self._fields: dict[str, int] = {}

    def run_local(self, profile: GuardProfile) -> None:
        for guard in profile.local:
            if self.take(guard.check(self.request, self.segments)):
                return

    def take(self, result: GuardResult) -> bool:
        """Apply one guard's result; True when it refused the request."""
        self.verdicts.extend(result.verdicts)
        if result.refusal is not None:
            self.refusal = result.refusal
            return True
        for index, text in (result.replacements or {}).items():
            old = self.segments[index]
            self.segments[index] = Segment(old.role, text, old.path)
            self._texts[old.path] = text
        self._fields.update(result.set_fields or {})
        return False

    def rewrite(self) -> None:
        if self._texts or self._fields:
            self.request = rewritten(self.request, self._texts, self._fields)
            self._texts, self._fields = {}, {}

"""The `sensitive-data` guard: personal data and secrets in the request, redacted, refused or
flagged (`gateway.safety.detectors` finds them)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from gateway.errors import SensitiveDataError
from gateway.routing.request import InferenceRequest
from gateway.safety.base import GuardDeps, GuardParams, GuardPlugin
from gateway.safety.detectors import KINDS, Kind, find_sensitive, redact
from gateway.safety.interfaces import CLEAN, GuardResult, GuardVerdict, RequestGuard
from gateway.safety.texts import Segment


class SensitiveDataParams(GuardParams):
    action: Literal["block", "redact", "flag"] = "redact"
    kinds: tuple[Kind, ...] = Field(default=KINDS, min_length=1)
    """What to look for: `email`, `phone`, `payment_card`, `cn_resident_id`, `us_ssn`,
    `secret`."""
    roles: tuple[str, ...] = ("user", "tool")
    """Message roles to check; completion prompts and embedding inputs count as `user`."""
    placeholder: str = Field(default="[REDACTED:{kind}]", min_length=1, max_length=64)
    """What replaces a finding; `{kind}` is replaced by its kind."""


class SensitiveDataGuard(GuardPlugin, RequestGuard):
    type_name: ClassVar[str] = "sensitive-data"
    stage = "input"
    Params = SensitiveDataParams

    def __init__(self, name: str, params: SensitiveDataParams, deps: GuardDeps) -> None:
        super().__init__(name, params, deps)
        self._action = params.action
        self._kinds = params.kinds
        self._roles = frozenset(params.roles)
        self._placeholder = params.placeholder

    def check(self, request: InferenceRequest, segments: Sequence[Segment]) -> GuardResult:
        found: Counter[str] = Counter()
        replacements: dict[int, str] = {}
        for index, segment in enumerate(segments):
            if segment.role not in self._roles:
                continue
            spans = find_sensitive(segment.facts, self._kinds)
            if spans:
                found.update(span.kind for span in spans)
                if self._action == "redact":
                    replacements[index] = redact(segment.text, spans, self._placeholder)
        if not found:
            return CLEAN
        verdicts = tuple(
            GuardVerdict(self.name, self._action, kind, details=(f"count={count}",))
            for kind, count in sorted(found.items())
        )
        if self._action == "block":
            kinds = ", ".join(sorted(found))
            error = SensitiveDataError(
                f"The request contains sensitive data ({kinds}) and was refused by the gateway."
            )
            return GuardResult(verdicts, refusal=error)
        return GuardResult(verdicts, replacements=replacements or None)

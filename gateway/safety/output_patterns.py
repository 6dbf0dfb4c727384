"""The `output-patterns` guard: compliance rules over generated text.

Rules are the detectors of `gateway.safety.detectors` (by kind: leaked keys and tokens,
payment cards, identity numbers, …) and regular expressions of the policy's own, each with a
reason code. The relay feeds it a sliding window of each choice's text (`window` characters
of what came before, plus what just arrived), so a match split across chunks is found; it
reports only matches that end in the new text, so nothing is reported twice.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from gateway.safety.base import GuardDeps, GuardParams, GuardPlugin
from gateway.safety.detectors import Kind, find_sensitive
from gateway.safety.interfaces import Finding, OutputScanner
from gateway.safety.normalize import TextFacts

_REASON = r"^[a-z][a-z0-9_]{0,47}$"


class OutputPattern(GuardParams):
    reason: str = Field(pattern=_REASON)
    """The reason code a match reports."""
    pattern: str
    """A Python regular expression, matched case-insensitively unless `caseSensitive`."""
    case_sensitive: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class OutputPatternsParams(GuardParams):
    action: Literal["block", "flag"] = "block"
    """`block` ends the response (`finish_reason: "content_filter"`); `flag` records it."""
    kinds: tuple[Kind, ...] = ("secret",)
    """Detector kinds that break the rules (see `sensitive-data`)."""
    patterns: tuple[OutputPattern, ...] = ()
    window: int = Field(default=256, ge=16, le=8192)
    """Characters of earlier output kept for matching: the longest match a rule may need."""


class OutputPatternsGuard(GuardPlugin, OutputScanner):
    type_name: ClassVar[str] = "output-patterns"
    stage = "output"
    Params = OutputPatternsParams

    def __init__(self, name: str, params: OutputPatternsParams, deps: GuardDeps) -> None:
        super().__init__(name, params, deps)
        self.action = params.action
        self.span = params.window
        self._kinds = params.kinds
        self._patterns = tuple(
            (p.reason, re.compile(p.pattern, 0 if p.case_sensitive else re.IGNORECASE))
            for p in params.patterns
        )

    def scan(self, text: str, new_from: int) -> Finding | None:
        if self._kinds:
            for span in find_sensitive(TextFacts(text), self._kinds):
                if span.end > new_from:
                    return Finding(span.kind)
        for reason, pattern in self._patterns:
            for match in pattern.finditer(text):
                if match.end() > new_from:
                    return Finding(reason)
        return None

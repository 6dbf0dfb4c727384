"""The `prompt-injection` guard: scored rules over user-supplied text, one threshold.

A text's score is the noisy-OR of the weights of the distinct rules it matches (see
`gateway.safety.injection_rules`), plus obfuscation signals: invisible characters splitting
words, Unicode tag characters (their hidden ASCII is decoded and scanned), bidi overrides,
full-width letters, and long base64 blobs (decoded and scanned once). Rules that match
overlapping text saw one piece of evidence, which counts once (its strongest weight). Two
things lower the score, because texts *about* attacks quote them: a match inside a quotation
of a larger text or inside a code fence weighs 0.4 of its weight, and each cue of such a text
(a code fence, "prompt injection", "classifier", "例如", …) damps the total. The request's
score is its highest-scoring segment.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from gateway.errors import PromptInjectionError
from gateway.routing.request import InferenceRequest
from gateway.safety.base import GuardDeps, GuardParams, GuardPlugin
from gateway.safety.injection_rules import (
    BUILTIN_RULES,
    CUE_MARKS,
    CUE_WORDS,
    OBFUSCATION,
    Rule,
    rule,
)
from gateway.safety.interfaces import CLEAN, GuardResult, GuardVerdict, RequestGuard
from gateway.safety.normalize import MarkIndex, TextFacts
from gateway.safety.texts import Segment, has_token_ids
from gateway.types import RequestKind

_OPENING = frozenset("“‘「『《〈")
_CLOSING = frozenset("”’」』》〉")
_QUOTES = frozenset("\"'`") | _OPENING | _CLOSING
_OPENERS = frozenset(":：(（,，=[【")
_QUOTE_REACH = 240
_QUOTED = 0.4
_CUE_DAMPING = (1.0, 0.75, 0.6, 0.5)
_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_BASE64_MIN = 40
_BASE64_GATE = 24  # a 40-character blob keeps such a run between its `+` and `/`
_MAX_DECODED = 16_384
_REASON = r"^[a-z][a-z0-9_]{0,47}$"
_CUE_WORDS = frozenset(word.encode() for word in CUE_WORDS)


@dataclass(frozen=True, slots=True)
class InjectionScore:
    score: float
    """In [0, 1]."""
    reason: str | None = None
    """The reason of the strongest signal; None for a score of 0."""


NOTHING = InjectionScore(0.0)


class InjectionScorer:
    """Scores text against a rule set; immutable, safe to share.

    Every rule needs an anchor: a lead rule is matched at each occurrence of one, any other
    rule searched in merged windows around them. Only rules whose anchors occur are tried,
    so cost grows with anchor occurrences, not with the number of rules.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        by_anchor: dict[str, list[int]] = {}
        for index, r in enumerate(rules):
            if not (r.words or r.marks):
                raise ValueError(f"rule {r.pattern.pattern[:40]!r} has no anchor")
            for anchor in (*r.words, *r.marks):
                by_anchor.setdefault(anchor, []).append(index)
        self._rules = tuple(rules)
        self._by_anchor = {anchor: tuple(indexes) for anchor, indexes in by_anchor.items()}
        vocabulary = {word for r in self._rules for word in (*r.words, *r.requires)}
        self._words = frozenset(word.encode() for word in vocabulary)
        marks = {mark for r in self._rules for mark in r.marks}
        self._ascii_marks = MarkIndex(mark for mark in marks if mark.isascii())
        self._other_marks = MarkIndex(mark for mark in marks if not mark.isascii())

    def score(self, text: str | TextFacts) -> InjectionScore:
        facts = text if isinstance(text, TextFacts) else TextFacts(text)
        return self._score(facts, decode=True)

    def _score(self, facts: TextFacts, *, decode: bool) -> InjectionScore:
        hits = [
            hit
            for index, anchors in sorted(self._anchored(facts).items())
            if (hit := self._tried(self._rules[index], facts, anchors)) is not None
        ]
        # Rules matching overlapping text saw one piece of evidence: it counts once.
        evidence = _strongest_per_overlap(hits)
        evidence += _obfuscation(facts)
        if decode and any(len(word) >= _BASE64_GATE for word in facts.long_words):
            evidence += self._decoded(facts.raw)
        if not evidence:
            return NOTHING
        damping = _CUE_DAMPING[min(_cues(facts), len(_CUE_DAMPING) - 1)]
        remaining = 1.0
        for _, weight in evidence:
            remaining *= 1.0 - weight
        reason = max(evidence, key=lambda item: item[1])[0]
        return InjectionScore(round((1.0 - remaining) * damping, 4), reason)

    def _anchored(self, facts: TextFacts) -> dict[int, list[str]]:
        """Rule index → the anchors of that rule that occur in the text."""
        text = facts.scan.text
        present = {word.decode() for word in facts.present(self._words)}
        found = [word for word in present if word in self._by_anchor]
        found += facts.index_marks(self._ascii_marks)
        if not text.isascii():
            found += facts.index_marks(self._other_marks)
        anchored: dict[int, list[str]] = {}
        for anchor in found:
            for index in self._by_anchor[anchor]:
                needs = self._rules[index].requires
                if not needs or not needs.isdisjoint(present):
                    anchored.setdefault(index, []).append(anchor)
        return anchored

    def _tried(self, r: Rule, facts: TextFacts, anchors: Iterable[str]) -> _Hit | None:
        """The rule's strongest match at or near an anchor (weighed less when quoted)."""
        best: _Hit | None = None
        text = facts.scan.text
        for match in _matches(r, facts, anchors):
            weight = r.weight * (_QUOTED if _quoted(text, match.start()) else 1.0)
            if best is None or weight > best.weight:
                best = _Hit(r.reason, weight, match.start(), match.end())
                if weight >= r.weight:
                    break
        return best

    def _decoded(self, raw: str) -> list[Evidence]:
        """Signals from base64 blobs: the blob itself, and what its decoded text scores."""
        found: list[Evidence] = []
        for match in _BASE64.finditer(raw):
            blob = match.group()
            if len(blob) < _BASE64_MIN:
                continue
            decoded = _decode(blob[:_MAX_DECODED])
            if decoded is None:
                continue
            inner = self._score(TextFacts(decoded), decode=False)
            found.append((OBFUSCATION, 0.45 if inner.score >= 0.5 else 0.15))
            if inner.score and inner.reason:
                found.append((inner.reason, inner.score))
        return found


def _windows(
    facts: TextFacts, anchors: Iterable[str], before: int, after: int
) -> list[tuple[int, int]]:
    """The stretches around every anchor occurrence, overlapping ones merged: each character
    is searched at most once per rule."""
    spans = sorted(
        (max(0, start - before), start + len(anchor) + after)
        for anchor in anchors
        for start in facts.positions(anchor)
    )
    merged: list[tuple[int, int]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


Evidence = tuple[str, float]
"""A reason and its weight."""


@dataclass(frozen=True, slots=True)
class _Hit:
    reason: str
    weight: float
    start: int
    end: int


def _matches(r: Rule, facts: TextFacts, anchors: Iterable[str]) -> Iterator[re.Match[str]]:
    text = facts.scan.text
    if r.lead:
        for anchor in anchors:
            for start in facts.positions(anchor):
                match = r.pattern.match(text, start)
                if match is not None:
                    yield match
        return
    for low, high in _windows(facts, anchors, r.before, r.after):
        yield from r.pattern.finditer(text, low, high)


def _strongest_per_overlap(hits: list[_Hit]) -> list[Evidence]:
    """One piece of evidence per stretch of text that overlapping matches cover: the
    strongest of them."""
    evidence: list[Evidence] = []
    group_end = -1
    for hit in sorted(hits, key=lambda h: (h.start, h.end)):
        if evidence and hit.start < group_end:
            if hit.weight > evidence[-1][1]:
                evidence[-1] = (hit.reason, hit.weight)
            group_end = max(group_end, hit.end)
        else:
            evidence.append((hit.reason, hit.weight))
            group_end = hit.end
    return evidence


def _quoted(text: str, start: int) -> bool:
    """Whether a match starting at `start` sits inside a quotation of a larger text: after an
    opening quote mark on the same line that no closing mark followed, or inside a ``` code
    fence. A quote opening the whole text does not count (quoting one's own attack is not
    discussing it)."""
    if text.count("```", 0, start) % 2 == 1:
        return True
    line = max(text.rfind("\n", 0, start) + 1, start - _QUOTE_REACH)
    opened = -1
    for index in range(start - 1, line - 1, -1):
        char = text[index]
        if char not in _QUOTES:
            continue
        if char in _OPENING:
            opened = index
            break
        if char in _CLOSING:
            return False
        before = text[index - 1] if index > 0 else " "
        after = text[index + 1] if index + 1 < len(text) else " "
        if before.isspace() or before in _OPENERS:
            opened = index  # an opening mark: keep looking for an earlier closing one
            break
        if not after.isalnum():
            return False  # the last mark before the match closed a quotation
    return opened > 0 and bool(text[:opened].strip())


def _cues(facts: TextFacts) -> int:
    text = facts.scan.text
    marks = sum(1 for m in CUE_MARKS if (m.isascii() or not text.isascii()) and m in text)
    return len(facts.present(_CUE_WORDS)) + marks


def _obfuscation(facts: TextFacts) -> list[Evidence]:
    scan = facts.scan
    signals: list[Evidence] = []
    if scan.hidden:
        signals.append((OBFUSCATION, 0.3 if scan.hidden < 3 else 0.45))
    if scan.tags:
        signals.append((OBFUSCATION, 0.6))
    if scan.bidi:
        signals.append((OBFUSCATION, 0.3))
    if scan.fullwidth >= 4:
        signals.append((OBFUSCATION, 0.3))
    return signals


def _decode(blob: str) -> str | None:
    """The text a base64 blob encodes, if it is mostly printable UTF-8."""
    padded = blob + "=" * (-len(blob) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
        text = data.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    printable = sum(1 for char in text if char.isprintable() or char in "\n\t")
    return text if text and printable >= 0.9 * len(text) else None


class ExtraRule(GuardParams):
    """A rule of the policy's own, added to the built-in ones."""

    reason: str = Field(pattern=_REASON)
    weight: float = Field(gt=0, le=1)
    pattern: str
    """A Python regular expression over lower-case text."""
    anchors: str = ""
    """Space-separated words or substrings near which to look; empty: the whole text."""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class PromptInjectionParams(GuardParams):
    threshold: float = Field(default=0.5, gt=0, le=1)
    """Block (or flag) at or above this score."""
    action: Literal["block", "flag"] = "block"
    roles: tuple[str, ...] = ("user",)
    """Message roles to scan; completion prompts count as `user`. Add `tool` to scan tool
    results (indirect injection through fetched pages)."""
    token_ids: Literal["allow", "flag", "block"] = "flag"
    """What to do with a prompt given as token ids, which no text rule can read."""
    extra_rules: tuple[ExtraRule, ...] = ()


class PromptInjectionGuard(GuardPlugin, RequestGuard):
    type_name: ClassVar[str] = "prompt-injection"
    stage = "input"
    Params = PromptInjectionParams

    def __init__(self, name: str, params: PromptInjectionParams, deps: GuardDeps) -> None:
        super().__init__(name, params, deps)
        extra = [rule(e.reason, e.weight, e.pattern, e.anchors) for e in params.extra_rules]
        self.scorer = InjectionScorer((*BUILTIN_RULES, *extra))
        self.threshold = params.threshold
        self._action = params.action
        self._roles = frozenset(params.roles)
        self._token_ids = params.token_ids

    def check(self, request: InferenceRequest, segments: Sequence[Segment]) -> GuardResult:
        if request.kind is RequestKind.EMBEDDING:
            return CLEAN
        best = NOTHING
        for segment in segments:
            if segment.role in self._roles:
                scored = self.scorer.score(segment.facts)
                if scored.score > best.score:
                    best = scored
        if self._token_ids != "allow" and has_token_ids(request):
            return self._unscanned()
        if best.score >= self.threshold and best.reason is not None:
            return self._found(best)
        if best.score > 0 and best.reason is not None:
            return GuardResult((GuardVerdict(self.name, "allow", best.reason, best.score),))
        return CLEAN

    def _found(self, best: InjectionScore) -> GuardResult:
        assert best.reason is not None
        verdict = GuardVerdict(self.name, self._action, best.reason, best.score)
        if self._action == "flag":
            return GuardResult((verdict,))
        error = PromptInjectionError(
            f"The request was refused by the gateway's prompt-injection guard "
            f"(reason: {best.reason})."
        )
        return GuardResult((verdict,), refusal=error)

    def _unscanned(self) -> GuardResult:
        action: Literal["block", "flag"] = "block" if self._token_ids == "block" else "flag"
        verdict = GuardVerdict(self.name, action, "unscanned_token_ids")
        if action == "flag":
            return GuardResult((verdict,))
        error = PromptInjectionError(
            "Prompts given as token ids cannot be checked and are not accepted here.",
            param="prompt",
        )
        return GuardResult((verdict,), refusal=error)

"""Extension points of safety, and the verdicts guards leave for audit.

Two levels:

- the director's stages: `InputGuard` (before routing) and `OutputGuard`, which hands the relay
  one `OutputInspector` per response;
- the guard plugins a safety policy lists and the stages run: `RequestGuard` (pure and
  synchronous: rules over the request), `RemoteGuard` (async I/O with a timeout: an external
  classifier) and `OutputScanner` (pure: rules over generated text).

Every guard that finds something says so in a `GuardVerdict`: which guard, what it did, why
(a stable reason code), and its score when it scores. Verdicts never hold request or output
text, so they can go to logs, metrics and the audit record as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from gateway.errors import GatewayError
from gateway.routing.request import InferenceRequest
from gateway.safety.texts import Segment

Action = Literal["block", "redact", "flag", "allow"]
"""`block`: refused, nothing forwarded; `redact`: forwarded with the findings replaced;
`flag`: forwarded unchanged, recorded; `allow`: a scored guard stayed under its threshold
(recorded with the score, for audit)."""


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """What one guard decided about one request or response.

    `guard` is the instance name from the safety policy, `reason` a stable snake_case code
    (`instruction_override`, `email`, `model_not_allowed`, …), `score` in [0, 1] for scored
    guards (prompt injection) and None otherwise, `stage` `input` or `output`, `details`
    short bounded labels (finding counts like `email=2`, classifier categories like `S1`),
    never text from the request or the answer.
    """

    guard: str
    action: Action
    reason: str
    score: float | None = None
    stage: Literal["input", "output"] = "input"
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InputDecision:
    """The input stage's answer: the request to route (unchanged or redacted), every verdict,
    and the refusal when a guard blocked (then nothing is forwarded)."""

    request: InferenceRequest
    verdicts: tuple[GuardVerdict, ...] = ()
    refusal: GatewayError | None = None

    def admitted(self) -> InferenceRequest:
        """The request to route; raises the refusal when there is one."""
        if self.refusal is not None:
            raise self.refusal
        return self.request


@dataclass(frozen=True, slots=True)
class OutputCut:
    """How an output guard ends a response: the error the client gets (in-band for a stream,
    instead of the body otherwise) and, for a stream, `closing`: the framed final chunk with
    `finish_reason: "content_filter"` that goes before the error event."""

    verdict: GuardVerdict
    error: GatewayError
    closing: bytes = b""


class InputGuard(Protocol):
    async def check(self, request: InferenceRequest) -> InputDecision:
        """Run the input guards that apply to this request; never raises a guard's refusal
        (it is in the decision, with the verdicts that led to it)."""
        ...


class OutputInspector(Protocol):
    """Watches one response. Per-chunk work runs on the event loop: keep it cheap."""

    @property
    def verdicts(self) -> Sequence[GuardVerdict]:
        """Flags and the block (if any) so far."""
        ...

    def observe(self, chunk: bytes) -> bytes | OutputCut:
        """One chunk of an event stream, as received. Returns the bytes to forward now (whole
        events only: the start of an event split across chunks is held until its end), or the
        cut that ends the stream (this chunk is not forwarded)."""
        ...

    def flush(self) -> bytes:
        """Bytes still held when the stream ends (an event without its blank line)."""
        ...

    def inspect_body(self, body: bytes) -> OutputCut | None:
        """A whole non-streamed response body; a cut replaces it with the error."""
        ...


class OutputGuard(Protocol):
    def inspector(self, request: InferenceRequest) -> OutputInspector | None:
        """A fresh inspector for one response, or `None` when nothing needs watching."""
        ...


@dataclass(frozen=True, slots=True)
class GuardResult:
    """One request guard's findings.

    `refusal` blocks the request; `replacements` maps segment index → redacted text (the
    next guards see the redacted text); `set_fields` are top-level body fields to set (e.g. a
    tenant's `max_tokens` ceiling when the request gave none).
    """

    verdicts: tuple[GuardVerdict, ...] = ()
    refusal: GatewayError | None = None
    replacements: Mapping[int, str] | None = None
    set_fields: Mapping[str, int] | None = None


CLEAN = GuardResult()


@runtime_checkable
class RequestGuard(Protocol):
    """A pure, synchronous check of a request and its text segments."""

    name: str
    """The instance name from the safety policy (verdicts carry it)."""

    def check(self, request: InferenceRequest, segments: Sequence[Segment]) -> GuardResult: ...


@runtime_checkable
class RemoteGuard(Protocol):
    """A check that does I/O (an external classifier); bounded by its own timeout, and never
    raises for a failed call (what a failure means is the guard's policy)."""

    name: str
    """The instance name from the safety policy (verdicts carry it)."""

    async def assess(
        self, request: InferenceRequest, segments: Sequence[Segment]
    ) -> GuardResult: ...


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule matched generated text: the rule's reason code."""

    reason: str


@runtime_checkable
class OutputScanner(Protocol):
    """Rules over generated text, applied to a sliding window of each choice's output.

    `span` is the longest text (characters) one match may cover: the window keeps that
    much of the text already seen, so a match split across chunks is still found.
    """

    name: str
    """The instance name from the safety policy (verdicts carry it)."""

    action: Literal["block", "flag"]
    span: int
    """The longest text (characters) one match may cover."""

    def scan(self, text: str, new_from: int) -> Finding | None:
        """The first rule match in `text` that ends after index `new_from` (the text before
        it was scanned already), or None."""
        ...

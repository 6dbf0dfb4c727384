"""The output stage: each response's text checked against its profile's output guards.

Streams: the relay hands every chunk to `ResponseInspector.observe`. Events are parsed only
as far as the generated text (`delta.content`, `delta.reasoning_content`, tool-call
arguments, completion `text`), one JSON decode per event. Each choice keeps a sliding window
of its latest text (the longest `window` of its guards), and each guard sees that window
with the new text, so a match split across chunks is found and a match is never reported
twice. Only whole events are forwarded: the start of an event that a chunk cut off is held
until its end arrives, so the client never receives half an event that a cut would leave
broken. On a blocking match the chunk is withheld and the stream ends with a final chunk whose
`finish_reason` is `content_filter`, the OpenAI-shaped error event and `data: [DONE]`.

Non-streamed answers are inspected whole (`inspect_body`); a blocking match replaces the
answer with the error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import orjson

from gateway.errors import ContentFilterError
from gateway.routing.request import InferenceRequest
from gateway.safety.interfaces import (
    GuardVerdict,
    OutputCut,
    OutputGuard,
    OutputInspector,
    OutputScanner,
)
from gateway.safety.runtime import SafetyRuntime
from gateway.types import RequestKind

_MAX_HELD = 1 << 20
"""An event larger than this is forwarded unread (and flagged) rather than held."""


class PolicyOutputGuard(OutputGuard):
    def __init__(self, runtime: Callable[[], SafetyRuntime]) -> None:
        self._runtime = runtime

    def inspector(self, request: InferenceRequest) -> OutputInspector | None:
        if request.kind is RequestKind.EMBEDDING:
            return None
        profile = self._runtime().profile_for(request.tenant, request.model)
        if not profile.output:
            return None
        return ResponseInspector(profile.output, chat=request.kind is RequestKind.CHAT)


class ResponseInspector(OutputInspector):
    """Inspects one response; used by one relay, never shared."""

    def __init__(self, scanners: Sequence[OutputScanner], *, chat: bool) -> None:
        self._scanners = tuple(scanners)
        self._window = max(scanner.span for scanner in scanners)
        self._chat = chat
        self._held = b""
        self._texts: dict[int, str] = {}
        self._meta: dict[str, object] = {}
        self._verdicts: list[GuardVerdict] = []
        self._flagged: set[tuple[str, str]] = set()

    @property
    def verdicts(self) -> Sequence[GuardVerdict]:
        return self._verdicts

    def observe(self, chunk: bytes) -> bytes | OutputCut:
        data = self._held + chunk if self._held else chunk
        end = _last_boundary(data)
        if end == 0:
            if len(data) > _MAX_HELD:
                self._flag("output_guard", "unread_event")
                self._held = b""
                return data
            self._held = data
            return b""
        complete, self._held = data[:end], data[end:]
        for line in complete.splitlines():
            if line.startswith(b"data:"):
                cut = self._event(line[5:])
                if cut is not None:
                    return cut
        return complete

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held

    def inspect_body(self, body: bytes) -> OutputCut | None:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None  # not an answer (an error page): nothing generated to inspect
        if not isinstance(document, dict):
            return None
        for index, text in _choice_texts(document, message=True):
            cut = self._scan(index, text, 0)
            if cut is not None:
                return cut
        return None

    def _event(self, payload: bytes) -> OutputCut | None:
        payload = payload.strip()
        if not payload.startswith(b"{"):
            return None  # [DONE], comments
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(event, dict):
            return None
        for key in ("id", "created", "model", "object"):
            if key in event:
                self._meta[key] = event[key]
        for index, text in _choice_texts(event, message=False):
            earlier = self._texts.get(index, "")[-self._window :]
            window = earlier + text
            self._texts[index] = window
            cut = self._scan(index, window, len(earlier))
            if cut is not None:
                return cut
        return None

    def _scan(self, index: int, text: str, new_from: int) -> OutputCut | None:
        self._texts.setdefault(index, "")
        for scanner in self._scanners:
            finding = scanner.scan(text, new_from)
            if finding is None:
                continue
            if scanner.action == "flag":
                self._flag(scanner.name, finding.reason)
                continue
            verdict = GuardVerdict(scanner.name, "block", finding.reason, stage="output")
            self._verdicts.append(verdict)
            error = ContentFilterError(
                "The response was stopped by the gateway's output guard "
                f"(reason: {finding.reason})."
            )
            return OutputCut(verdict, error, self._closing())
        return None

    def _flag(self, guard: str, reason: str) -> None:
        if (guard, reason) not in self._flagged:
            self._flagged.add((guard, reason))
            self._verdicts.append(GuardVerdict(guard, "flag", reason, stage="output"))

    def _closing(self) -> bytes:
        """The final chunk of a cut stream: every choice seen ends with `content_filter`."""
        indexes = sorted(self._texts) or [0]
        if self._chat:
            choices: list[dict[str, object]] = [
                {"index": i, "delta": {}, "logprobs": None, "finish_reason": "content_filter"}
                for i in indexes
            ]
            kind = "chat.completion.chunk"
        else:
            choices = [
                {"index": i, "text": "", "logprobs": None, "finish_reason": "content_filter"}
                for i in indexes
            ]
            kind = "text_completion"
        chunk = {
            "id": self._meta.get("id", ""),
            "object": self._meta.get("object", kind),
            "created": self._meta.get("created", 0),
            "model": self._meta.get("model", ""),
            "choices": choices,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _last_boundary(data: bytes) -> int:
    """Where the last complete event ends (after its blank line); 0 when none did."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def _choice_texts(document: Mapping[str, object], *, message: bool) -> list[tuple[int, str]]:
    """(choice index, generated text) of a stream event or (`message`) a whole answer."""
    choices = document.get("choices")
    if not isinstance(choices, list):
        return []
    found: list[tuple[int, str]] = []
    for position, choice in enumerate(choices):
        if not isinstance(choice, dict):
            continue
        index = choice.get("index", position)
        index = index if isinstance(index, int) else position
        parts: list[str] = []
        text = choice.get("text")
        if isinstance(text, str):
            parts.append(text)
        body = choice.get("message" if message else "delta")
        if isinstance(body, dict):
            _message_texts(body, parts)
        if parts:
            found.append((index, "".join(parts)))
    return found


def _message_texts(body: Mapping[str, object], parts: list[str]) -> None:
    for key in ("content", "reasoning_content", "reasoning"):
        value = body.get(key)
        if isinstance(value, str):
            parts.append(value)
    calls = body.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            arguments = function.get("arguments") if isinstance(function, dict) else None
            if isinstance(arguments, str):
                parts.append(arguments)

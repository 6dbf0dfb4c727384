"""Server-sent events of an OpenAI-compatible response, parsed on bytes as they arrive.

`StreamMeter` timestamps the chunks that carry generated text (chat `delta.content`,
`delta.reasoning_content`/`delta.reasoning`, completions `text`; a role-only chunk does not
count) and reads usage and errors, for the load generator's TTFT and inter-token latency.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

_TEXT_KEYS = ("content", "reasoning_content", "reasoning")


class StreamMeter:
    """Parses one response body (SSE or JSON) and timestamps its generated-text chunks.

    `feed` takes the bytes of each network read with the time they arrived; events split
    across reads are reassembled. Not thread-safe; one meter per request.
    """

    def __init__(self) -> None:
        self.status: int | None = None  # the HTTP status, once the response headers are in
        self.token_times: list[float] = []
        self.done = False
        self.error: str | None = None
        self.error_detail: str | None = None
        self.usage_output: int | None = None
        self.prompt_tokens: int | None = None
        self.cached_tokens: int | None = None
        self._buffer = b""

    @property
    def output_tokens(self) -> int:
        """From the usage chunk; else the number of text chunks."""
        return self.usage_output if self.usage_output is not None else len(self.token_times)

    def feed(self, data: bytes, now: float) -> None:
        buffer = self._buffer + data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        *events, self._buffer = buffer.split(b"\n\n")
        for event in events:
            self._event(event, now)

    def close(self, now: float) -> None:
        """The body ended: flush a last unterminated event, flag a missing `[DONE]`."""
        if self._buffer.strip():
            self._event(self._buffer, now)
            self._buffer = b""
        if not self.done and self.error is None:
            self._fail("incomplete_stream", "the stream ended without [DONE]")

    def whole(self, body: bytes) -> None:
        """A non-streamed JSON response: usage only, no token timing."""
        self.done = True
        try:
            self._chunk(json.loads(body), None)
        except ValueError as exc:
            self._fail("bad_sse", f"undecodable body: {exc}")

    def _event(self, event: bytes, now: float) -> None:
        name = b""
        data: list[bytes] = []
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif line.startswith(b"event:"):
                name = line[6:].strip()
        payload = b"\n".join(data)
        if name == b"error":
            self._fail("sse_error", payload[:300].decode(errors="replace"))
        elif payload == b"[DONE]":
            self.done = True
        elif data:
            try:
                chunk = json.loads(payload)
            except ValueError:
                self._fail("bad_sse", payload[:300].decode(errors="replace"))
                return
            self._chunk(chunk, now)

    def _chunk(self, chunk: object, now: float | None) -> None:
        if not isinstance(chunk, dict):
            return
        if chunk.get("error") is not None:
            self._fail("sse_error", json.dumps(chunk["error"])[:300])
        choices = chunk.get("choices")
        if now is not None and isinstance(choices, list) and any(map(_has_text, choices)):
            self.token_times.append(now)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage(usage)

    def _usage(self, usage: Mapping[str, object]) -> None:
        output, prompt = usage.get("completion_tokens"), usage.get("prompt_tokens")
        self.usage_output = output if isinstance(output, int) else self.usage_output
        self.prompt_tokens = prompt if isinstance(prompt, int) else self.prompt_tokens
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            self.cached_tokens = details["cached_tokens"]

    def _fail(self, kind: str, detail: str) -> None:
        if self.error is None:  # the first error is the cause
            self.error, self.error_detail = kind, detail


def _has_text(choice: object) -> bool:
    if not isinstance(choice, dict):
        return False
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return any(delta.get(key) for key in _TEXT_KEYS)
    return bool(choice.get("text"))

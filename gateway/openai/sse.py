"""Server-sent events as OpenAI and vLLM frame them: `data: <json>\n\n`, then `data: [DONE]`."""

from __future__ import annotations

DONE_EVENT = b"data: [DONE]\n\n"
_DONE = b"data: [DONE]"


def is_event_stream(content_type: str | None) -> bool:
    if content_type is None:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


def ends_with_done(tail: bytes) -> bool:
    """Whether the last bytes of a stream close it with `data: [DONE]`."""
    return tail.rstrip().endswith(_DONE)

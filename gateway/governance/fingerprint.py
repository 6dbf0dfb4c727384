"""The prompt hash: SHA-256 of the canonical prompt, computed once per request.

The canonical prompt is the text the tokenize stage rendered (`Prompt.text`: chat messages
through the model's chat template, or a completion's prompt string). When there is none
(not tokenized, a template that failed, token ids given), the raw prompt is hashed: the
prompt string, or the messages or token ids as JSON with sorted keys. Equal prompts hash
equal across requests, replicas and restarts; the text itself is never kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import orjson

from gateway.openai.prompt import Prompt
from gateway.routing.request import InferenceRequest

TEMPLATE = "template"
RAW = "raw"


def prompt_source(prompt: Prompt | None) -> str:
    """Which form `prompt_hash` hashed: `template` or `raw`."""
    return TEMPLATE if prompt is not None and prompt.text is not None else RAW


def prompt_hash(request: InferenceRequest, prompt: Prompt | None) -> str:
    """Hex SHA-256 of the canonical prompt, else of the raw prompt (`prompt_source`)."""
    if prompt is not None and prompt.text is not None:
        return _sha256(prompt.text)
    return hashlib.sha256(raw_prompt_bytes(request)).hexdigest()


def raw_prompt_bytes(request: InferenceRequest) -> bytes:
    raw = request.prompt if request.prompt is not None else request.messages
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass")
    if raw is None:
        return b""
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


def prompt_text(request: InferenceRequest, prompt: Prompt | None, max_chars: int) -> str:
    """The text `prompt_hash` hashed (raw prompts as their JSON), cut at `max_chars`."""
    if prompt is not None and prompt.text is not None:
        return prompt.text[:max_chars]
    raw = request.prompt if request.prompt is not None else request.messages
    if isinstance(raw, str):
        return raw[:max_chars]
    if isinstance(raw, Sequence):
        return raw_prompt_bytes(request).decode("utf-8", "replace")[:max_chars]
    return ""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

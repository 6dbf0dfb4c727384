"""Chat templates: render OpenAI chat messages into the prompt text an engine sees.

Only the templates of the vocabularies we ship are built in; both the gateway and the
simulator render with them, so their token counts and block boundaries agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

JSONObject = Mapping[str, object]


def message_text(content: object) -> str:
    """The text of a message's `content`: a string, or the text parts of a parts list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


class ChatTemplate(Protocol):
    @property
    def name(self) -> str: ...

    def render(
        self,
        messages: Sequence[JSONObject],
        *,
        tools: Sequence[object] | None = None,
        add_generation_prompt: bool = True,
    ) -> str: ...


@dataclass(frozen=True)
class ChatMLTemplate:
    """Qwen2.5's ChatML template (tools are listed in the system turn)."""

    name: str = "chatml"
    default_system: str | None = "You are a helpful assistant."

    def render(
        self,
        messages: Sequence[JSONObject],
        *,
        tools: Sequence[object] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        parts: list[str] = []
        has_system = bool(messages) and messages[0].get("role") == "system"
        if tools or (not has_system and self.default_system):
            system = message_text(messages[0].get("content")) if has_system else ""
            system = system or self.default_system or ""
            if tools:
                listed = "\n".join(json.dumps(tool, separators=(",", ":")) for tool in tools)
                system += f"\n\n# Tools\n\n<tools>\n{listed}\n</tools>"
            parts.append(f"<|im_start|>system\n{system}<|im_end|>\n")
            messages = messages[1:] if has_system else messages
        for message in messages:
            role = str(message.get("role", "user"))
            text = message_text(message.get("content"))
            for call in _tool_calls(message):
                text += f"\n<tool_call>\n{json.dumps(call, separators=(',', ':'))}\n</tool_call>"
            parts.append(f"<|im_start|>{role}\n{text}<|im_end|>\n")
        if add_generation_prompt:
            parts.append("<|im_start|>assistant\n")
        return "".join(parts)


@dataclass(frozen=True)
class Llama3Template:
    """Llama 3's header-id template."""

    name: str = "llama3"

    def render(
        self,
        messages: Sequence[JSONObject],
        *,
        tools: Sequence[object] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        parts = ["<|begin_of_text|>"]
        for message in messages:
            role = str(message.get("role", "user"))
            text = message_text(message.get("content")).strip()
            parts.append(f"<|start_header_id|>{role}<|end_header_id|>\n\n{text}<|eot_id|>")
        if add_generation_prompt:
            parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
        return "".join(parts)


def _tool_calls(message: JSONObject) -> list[object]:
    calls = message.get("tool_calls")
    return list(calls) if isinstance(calls, list) else []


_TEMPLATES: dict[str, ChatTemplate] = {"chatml": ChatMLTemplate(), "llama3": Llama3Template()}


def get_chat_template(name: str) -> ChatTemplate:
    try:
        return _TEMPLATES[name]
    except KeyError:
        raise KeyError(f"unknown chat template {name!r}; known: {sorted(_TEMPLATES)}") from None

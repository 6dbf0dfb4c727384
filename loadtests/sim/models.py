"""The served models: base names (`--served-model-name`) and LoRA adapters (`--lora-modules`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from loadtests.sim.protocol import model_not_found


@dataclass(frozen=True)
class LoraModule:
    """One adapter; `lora_id` counts from 1 in flag order, as vLLM assigns `lora_int_id`."""

    name: str
    path: str
    lora_id: int


@dataclass(frozen=True)
class ResolvedModel:
    """The `model` a response reports and the adapter (if any) the engine request runs with."""

    name: str
    lora: LoraModule | None = None


def parse_lora_modules(specs: Sequence[str]) -> tuple[LoraModule, ...]:
    """`name=path` items (vLLM's legacy `--lora-modules` form)."""
    modules: list[LoraModule] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"bad --lora-modules item {spec!r}; expected name=path")
        if any(m.name == name for m in modules):
            raise ValueError(f"duplicate LoRA adapter name {name!r}")
        modules.append(LoraModule(name=name, path=path, lora_id=len(modules) + 1))
    return tuple(modules)


@dataclass(frozen=True)
class ServedModels:
    names: tuple[str, ...]
    root: str  # the model path vLLM reports as `root` of the base cards
    max_model_len: int
    loras: tuple[LoraModule, ...] = ()

    @property
    def default(self) -> str:
        return self.names[0]

    def resolve(self, requested: str | None) -> ResolvedModel:
        """The model for a request's `model` field; absent means the first served name.

        Raises the 404 `NotFoundError` vLLM answers for an unknown name.
        """
        if not requested:
            return ResolvedModel(self.default)
        if requested in self.names:
            return ResolvedModel(requested)
        for lora in self.loras:
            if lora.name == requested:
                return ResolvedModel(requested, lora)
        raise model_not_found(requested)

    def cards(self) -> dict[str, object]:
        """`GET /v1/models`, as vLLM's `ModelList` (one card per name, then per adapter)."""
        created = int(time.time())
        data = [self._card(name, created, self.root, None) for name in self.names]
        data += [self._card(lora.name, created, lora.path, self.default) for lora in self.loras]
        return {"object": "list", "data": data}

    def _card(self, name: str, created: int, root: str, parent: str | None) -> dict[str, object]:
        return {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": "vllm",
            "root": root,
            "parent": parent,
            "max_model_len": self.max_model_len,
            "permission": [
                {
                    "id": f"modelperm-{uuid.uuid4().hex}",
                    "object": "model_permission",
                    "created": created,
                    "allow_create_engine": False,
                    "allow_sampling": True,
                    "allow_logprobs": True,
                    "allow_search_indices": False,
                    "allow_view": True,
                    "allow_fine_tuning": False,
                    "organization": "*",
                    "group": None,
                    "is_blocking": False,
                }
            ],
        }

"""One engine as discovery knows it, and the model cards it serves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.types import EndpointId


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An engine's identity. `url` is its base URL without a trailing slash; `kv_events` the
    address of its KV-event publisher (`tcp://host:port`), when it has one."""

    id: EndpointId
    url: str
    labels: Mapping[str, str] = field(default_factory=dict)
    kv_events: str | None = None


@dataclass(frozen=True, slots=True)
class ModelCard:
    """One entry of an engine's `/v1/models`: a base model, or a LoRA adapter with `parent`."""

    id: str
    parent: str | None
    raw: Mapping[str, object]
    """The card as the engine served it, relayed unchanged by the gateway's `/v1/models`."""

    @property
    def is_adapter(self) -> bool:
        return self.parent is not None and self.parent != self.id

"""What every routing plugin class shares: its type name, its parameters model, its deps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from gateway.prefix.interfaces import PrefixIndex


class PluginParams(BaseModel):
    """A plugin's `parameters`: frozen, unknown keys rejected, camelCase in YAML."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class NoParams(PluginParams):
    """For plugins without parameters."""


@dataclass(frozen=True, slots=True)
class PluginDeps:
    """The long-lived objects plugins may use, built by the lifespan and shared by every
    routing runtime (a policy reload builds new plugins over the same deps).

    `block_size` is the prefix index's block size in tokens; `seed`, when set, makes the
    random choices of pickers reproducible (tests).
    """

    prefix_index: PrefixIndex
    block_size: int
    seed: int | None = None


class RoutingPlugin:
    """Base of built-in plugins; subclasses also subclass their Protocol explicitly.

    `type_name` is the kebab-case name the policy uses; `Params` validates `parameters`.
    `prefix_aware` plugins are left out of every profile when KV-aware routing is off.
    Subclasses take their own `Params` subclass in `__init__`.
    """

    type_name: ClassVar[str]
    Params: ClassVar[type[PluginParams]] = NoParams
    prefix_aware: ClassVar[bool] = False

    def __init__(self, params: PluginParams, deps: PluginDeps) -> None:
        """Built only by `build`, after `params` were validated against `Params`."""

    @classmethod
    def build(cls, parameters: Mapping[str, object], deps: PluginDeps) -> Self:
        """Validate `parameters` (raises pydantic's `ValidationError`) and build."""
        return cls(cls.Params.model_validate(parameters), deps)

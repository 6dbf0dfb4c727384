"""What every guard plugin class shares: its type name, stage, parameters model and deps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from gateway.proxy.interfaces import UpstreamTransport
from gateway.safety.tenants import TenantDirectory

Stage = Literal["input", "output"]


class GuardConfigError(ValueError):
    """A guard type is unknown, its parameters are invalid, or its deps are missing."""


class GuardParams(BaseModel):
    """A guard's `parameters`: frozen, unknown keys rejected, camelCase in YAML."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


def _no_tenants() -> TenantDirectory:
    return TenantDirectory.empty()


@dataclass(frozen=True, slots=True)
class GuardDeps:
    """The long-lived objects guards may use, built by the lifespan and shared by every safety
    runtime (a policy reload builds new guards over the same deps).

    `transport` is the gateway's shared upstream HTTP client (remote guards call their
    classifier through it); `tenants` returns the tenant directory in force (it has its own
    file and reloads on its own).
    """

    transport: UpstreamTransport | None = None
    tenants: Callable[[], TenantDirectory] = _no_tenants


class GuardPlugin:
    """Base of built-in guards; subclasses also subclass their Protocol explicitly.

    `type_name` is the kebab-case name the policy uses, `stage` where it runs, `Params`
    validates `parameters`. Subclasses take their own `Params` subclass in `__init__`.
    """

    type_name: ClassVar[str]
    stage: ClassVar[Stage]
    Params: ClassVar[type[GuardParams]]

    def __init__(self, name: str, params: GuardParams, deps: GuardDeps) -> None:
        """Built only by `build`, after `params` were validated against `Params`."""
        self.name = name

    @classmethod
    def build(cls, name: str, parameters: Mapping[str, object], deps: GuardDeps) -> Self:
        """Validate `parameters` (raises pydantic's `ValidationError`) and build."""
        return cls(name, cls.Params.model_validate(parameters), deps)

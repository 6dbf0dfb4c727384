"""Plugin type name → class; configuration, not code, chooses which ones run."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from pydantic import ValidationError

from gateway.config.frozen import KEBAB_PATTERN
from gateway.plugins.base import PluginDeps, RoutingPlugin
from gateway.plugins.builtin import BUILTIN_PLUGINS

_KEBAB = re.compile(KEBAB_PATTERN)


class PluginConfigError(ValueError):
    """A plugin type is unknown or its parameters are invalid."""


class PluginRegistry:
    """An immutable table of plugin classes by `type_name`."""

    def __init__(self, classes: Iterable[type[RoutingPlugin]]) -> None:
        table: dict[str, type[RoutingPlugin]] = {}
        for cls in classes:
            name = cls.type_name
            if not _KEBAB.match(name):
                raise ValueError(f"plugin type name {name!r} is not kebab-case")
            if name in table:
                raise ValueError(f"plugin type {name!r} registered twice")
            table[name] = cls
        self._classes: Mapping[str, type[RoutingPlugin]] = MappingProxyType(table)

    @property
    def classes(self) -> Mapping[str, type[RoutingPlugin]]:
        return self._classes

    def get(self, type_name: str) -> type[RoutingPlugin]:
        try:
            return self._classes[type_name]
        except KeyError:
            known = ", ".join(sorted(self._classes))
            raise PluginConfigError(
                f"unknown plugin type {type_name!r}; known types: {known}"
            ) from None

    def build(
        self, type_name: str, parameters: Mapping[str, object], deps: PluginDeps, *, name: str
    ) -> RoutingPlugin:
        """Build one instance; `name` (the policy's instance name) only labels errors."""
        cls = self.get(type_name)
        try:
            return cls.build(parameters, deps)
        except ValidationError as exc:
            raise PluginConfigError(
                f"plugin {name!r} ({type_name}): invalid parameters: {_errors(exc)}"
            ) from None


def builtin_registry() -> PluginRegistry:
    return PluginRegistry(BUILTIN_PLUGINS)


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or '(parameters)'}: {error['msg']}"
        for error in exc.errors()
    )

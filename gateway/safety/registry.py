"""Guard type name → class; configuration, not code, chooses which guards run."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from pydantic import ValidationError

from gateway.config.frozen import KEBAB_PATTERN
from gateway.safety.allowlist import TenantAllowlistGuard
from gateway.safety.base import GuardConfigError, GuardDeps, GuardPlugin
from gateway.safety.classifier import ExternalClassifierGuard
from gateway.safety.injection import PromptInjectionGuard
from gateway.safety.output_patterns import OutputPatternsGuard
from gateway.safety.sensitive_data import SensitiveDataGuard

_KEBAB = re.compile(KEBAB_PATTERN)

BUILTIN_GUARDS: tuple[type[GuardPlugin], ...] = (
    TenantAllowlistGuard,
    PromptInjectionGuard,
    SensitiveDataGuard,
    ExternalClassifierGuard,
    OutputPatternsGuard,
)


class GuardRegistry:
    """An immutable table of guard classes by `type_name`."""

    def __init__(self, classes: Iterable[type[GuardPlugin]]) -> None:
        table: dict[str, type[GuardPlugin]] = {}
        for cls in classes:
            name = cls.type_name
            if not _KEBAB.match(name):
                raise ValueError(f"guard type name {name!r} is not kebab-case")
            if name in table:
                raise ValueError(f"guard type {name!r} registered twice")
            table[name] = cls
        self._classes: Mapping[str, type[GuardPlugin]] = MappingProxyType(table)

    @property
    def classes(self) -> Mapping[str, type[GuardPlugin]]:
        return self._classes

    def get(self, type_name: str) -> type[GuardPlugin]:
        try:
            return self._classes[type_name]
        except KeyError:
            known = ", ".join(sorted(self._classes))
            raise GuardConfigError(
                f"unknown guard type {type_name!r}; known types: {known}"
            ) from None

    def build(
        self, type_name: str, parameters: Mapping[str, object], deps: GuardDeps, *, name: str
    ) -> GuardPlugin:
        cls = self.get(type_name)
        try:
            return cls.build(name, parameters, deps)
        except ValidationError as exc:
            raise GuardConfigError(
                f"guard {name!r} ({type_name}): invalid parameters: {_errors(exc)}"
            ) from None


def builtin_guards() -> GuardRegistry:
    return GuardRegistry(BUILTIN_GUARDS)


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or '(parameters)'}: {error['msg']}"
        for error in exc.errors()
    )

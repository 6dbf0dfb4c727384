"""Workload parameters from `key=value` strings, and their checks."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def parse_overrides(items: list[str]) -> dict[str, str]:
    """`["groups=10", "prefix_tokens=2000"]` → a dict; dashes in keys become underscores."""
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {item!r}")
        overrides[key.strip().replace("-", "_")] = value.strip()
    return overrides


def build(cls: type[T], overrides: Mapping[str, str]) -> T:
    """An instance of the parameter dataclass `cls`, defaults replaced by `overrides`."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown parameters {unknown}; known: {sorted(fields)}")
    values = {key: _coerce(key, hints[key], raw) for key, raw in overrides.items()}
    return cls(**values)


def _coerce(key: str, kind: object, raw: str) -> object:
    try:
        if kind is bool:
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError(raw)
            return raw.lower() in _TRUE
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is str:
            return raw
    except ValueError:
        name = getattr(kind, "__name__", kind)
        raise ValueError(f"parameter {key}: {raw!r} is not a valid {name}") from None
    raise TypeError(f"parameter {key} has unsupported type {kind}")


def defaults(cls: type[object]) -> dict[str, object]:
    """Each parameter's default, for help texts."""
    return {
        f.name: f.default
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.default is not dataclasses.MISSING
    }


def check_range(name: str, low: int, high: int, minimum: int = 1) -> None:
    """Raise unless minimum ≤ low ≤ high (an inclusive range parameter pair `name_min/max`)."""
    if not minimum <= low <= high:
        raise ValueError(f"{name}: need {minimum} ≤ min ≤ max, got min={low} max={high}")


def check_min(name: str, value: float, minimum: float = 1) -> None:
    if not value >= minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value}")

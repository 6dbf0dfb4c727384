"""The base of every policy-file model: immutable, strict, camelCase in YAML."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

KEBAB_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
"""Registered type names (`prefix-cache-scorer`, `prompt-injection`, `jsonl`)."""
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$"
"""Instance and profile names."""


class FrozenModel(BaseModel):
    """Frozen, no unknown keys, camelCase aliases, attribute docstrings in the schema."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )

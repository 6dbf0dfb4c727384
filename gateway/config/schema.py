"""JSON Schemas of the policy files, generated from their models and plugin registries.

Entries that name a registered type (routing plugins, safety guards, audit sinks) get one
`if/then` branch per type, so an editor checks each entry's `parameters` too. `kvgate schema`
prints them; `policies/schema/*.schema.json` are the committed copies (a test fails when one
is out of date).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel

from gateway.config.models import RoutingPolicy
from gateway.plugins.registry import PluginRegistry

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://kvgate.dev/schemas/routing.schema.json"


def typed_entries_schema(
    model: type[BaseModel],
    spec_name: str,
    parameters: Mapping[str, type[BaseModel]],
    schema_id: str,
) -> dict[str, object]:
    """`model`'s schema with `$defs[spec_name]` (an entry with `type` and `parameters`)
    narrowed to the registered type names, each with its own `parameters` model."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    defs = schema["$defs"]
    assert isinstance(defs, dict)
    spec = defs[spec_name]
    assert isinstance(spec, dict)
    branches: list[object] = []
    for name, params_model in sorted(parameters.items()):
        params = params_model.model_json_schema(by_alias=True, mode="validation")
        params.pop("title", None)
        for key, nested in params.pop("$defs", {}).items():
            if defs.setdefault(key, nested) != nested:
                raise ValueError(f"{name}: parameter model {key!r} clashes with another")
        branches.append(
            {
                "if": {"properties": {"type": {"const": name}}},
                "then": {"properties": {"parameters": params}},
            }
        )
    properties = spec["properties"]
    assert isinstance(properties, dict)
    properties["type"] = {**properties["type"], "enum": sorted(parameters)}
    spec["allOf"] = branches
    return {"$schema": DRAFT, "$id": schema_id, **schema}


def render(schema: Mapping[str, object]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def policy_schema(registry: PluginRegistry) -> dict[str, object]:
    return typed_entries_schema(
        RoutingPolicy, "PluginSpec", {n: c.Params for n, c in registry.classes.items()}, SCHEMA_ID
    )


def render_schema(registry: PluginRegistry) -> str:
    return render(policy_schema(registry))

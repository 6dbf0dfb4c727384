"""The JSON Schema of the routing policy file, generated from the models and the registry.

Plugin entries get one branch per registered type, so an editor checks each plugin's
`parameters` too. `kvgate schema` prints it; `policies/schema/routing.schema.json` is the
committed copy (a test fails when it is out of date).
"""

from __future__ import annotations

import json

from gateway.config.models import RoutingPolicy
from gateway.plugins.registry import PluginRegistry

SCHEMA_ID = "https://kvgate.dev/schemas/routing.schema.json"


def policy_schema(registry: PluginRegistry) -> dict[str, object]:
    schema = RoutingPolicy.model_json_schema(by_alias=True, mode="validation")
    defs = schema["$defs"]
    assert isinstance(defs, dict)
    spec = defs["PluginSpec"]
    assert isinstance(spec, dict)
    branches: list[object] = []
    for name, cls in sorted(registry.classes.items()):
        params = cls.Params.model_json_schema(by_alias=True, mode="validation")
        params.pop("title", None)
        for key in ("$defs",):
            if key in params:
                raise ValueError(f"{name}: nested parameter models are not supported")
        branches.append(
            {
                "if": {"properties": {"type": {"const": name}}},
                "then": {"properties": {"parameters": params}},
            }
        )
    properties = spec["properties"]
    assert isinstance(properties, dict)
    properties["type"] = {**properties["type"], "enum": sorted(registry.classes)}
    spec["allOf"] = branches
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render_schema(registry: PluginRegistry) -> str:
    return json.dumps(policy_schema(registry), indent=2, sort_keys=True) + "\n"

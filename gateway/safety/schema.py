"""The JSON Schemas of the safety policy and the tenants file, generated from the models.

Guard entries get one branch per registered type, so an editor checks each guard's
`parameters` too. `kvgate schema --kind safety` (or `tenants`) prints them;
`policies/schema/safety.schema.json` and `tenants.schema.json` are the committed copies (a
test fails when they are out of date).
"""

from __future__ import annotations

import json

from gateway.safety.models import SafetyPolicy
from gateway.safety.registry import GuardRegistry
from gateway.safety.tenants import TenantPolicy

SAFETY_SCHEMA_ID = "https://kvgate.dev/schemas/safety.schema.json"
TENANTS_SCHEMA_ID = "https://kvgate.dev/schemas/tenants.schema.json"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def safety_schema(registry: GuardRegistry) -> dict[str, object]:
    schema = SafetyPolicy.model_json_schema(by_alias=True, mode="validation")
    defs = schema["$defs"]
    assert isinstance(defs, dict)
    spec = defs["GuardSpec"]
    assert isinstance(spec, dict)
    branches: list[object] = []
    for name, cls in sorted(registry.classes.items()):
        params = cls.Params.model_json_schema(by_alias=True, mode="validation")
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
    properties["type"] = {**properties["type"], "enum": sorted(registry.classes)}
    spec["allOf"] = branches
    return {"$schema": _DRAFT, "$id": SAFETY_SCHEMA_ID, **schema}


def tenants_schema() -> dict[str, object]:
    schema = TenantPolicy.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": _DRAFT, "$id": TENANTS_SCHEMA_ID, **schema}


def render_safety_schema(registry: GuardRegistry) -> str:
    return json.dumps(safety_schema(registry), indent=2, sort_keys=True) + "\n"


def render_tenants_schema() -> str:
    return json.dumps(tenants_schema(), indent=2, sort_keys=True) + "\n"

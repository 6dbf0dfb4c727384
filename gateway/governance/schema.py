"""The JSON Schema of the governance policy file, generated from the models and the sinks.

Sink entries get one branch per registered type, so an editor checks each sink's
`parameters` too. `kvgate schema --kind governance` prints it;
`policies/schema/governance.schema.json` is the committed copy (a test fails when it is
out of date).
"""

from __future__ import annotations

import json

from gateway.governance.config import GovernancePolicy
from gateway.governance.sinks.registry import SinkRegistry

SCHEMA_ID = "https://kvgate.dev/schemas/governance.schema.json"


def governance_schema(registry: SinkRegistry) -> dict[str, object]:
    schema = GovernancePolicy.model_json_schema(by_alias=True, mode="validation")
    defs = schema["$defs"]
    assert isinstance(defs, dict)
    spec = defs["SinkSpec"]
    assert isinstance(spec, dict)
    branches: list[object] = []
    for name, cls in sorted(registry.types.items()):
        params = cls.Params.model_json_schema(by_alias=True, mode="validation")
        params.pop("title", None)
        branches.append(
            {
                "if": {"properties": {"type": {"const": name}}},
                "then": {"properties": {"parameters": params}},
            }
        )
    properties = spec["properties"]
    assert isinstance(properties, dict)
    properties["type"] = {**properties["type"], "enum": sorted(registry.types)}
    spec["allOf"] = branches
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render_governance_schema(registry: SinkRegistry) -> str:
    return json.dumps(governance_schema(registry), indent=2, sort_keys=True) + "\n"

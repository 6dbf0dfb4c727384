"""The JSON Schemas of the safety policy and the tenants file, generated from the models.

Guard entries get one branch per registered type, so an editor checks each guard's
`parameters` too. `kvgate schema --kind safety` (or `tenants`) prints them;
`policies/schema/safety.schema.json` and `tenants.schema.json` are the committed copies (a
test fails when they are out of date).
"""

from __future__ import annotations

from gateway.config.schema import DRAFT, render, typed_entries_schema
from gateway.safety.models import SafetyPolicy
from gateway.safety.registry import GuardRegistry
from gateway.safety.tenants import TenantPolicy

SAFETY_SCHEMA_ID = "https://kvgate.dev/schemas/safety.schema.json"
TENANTS_SCHEMA_ID = "https://kvgate.dev/schemas/tenants.schema.json"


def safety_schema(registry: GuardRegistry) -> dict[str, object]:
    return typed_entries_schema(
        SafetyPolicy,
        "GuardSpec",
        {n: c.Params for n, c in registry.classes.items()},
        SAFETY_SCHEMA_ID,
    )


def tenants_schema() -> dict[str, object]:
    schema = TenantPolicy.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": DRAFT, "$id": TENANTS_SCHEMA_ID, **schema}


def render_safety_schema(registry: GuardRegistry) -> str:
    return render(safety_schema(registry))


def render_tenants_schema() -> str:
    return render(tenants_schema())

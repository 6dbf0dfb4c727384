"""The JSON Schema of the governance policy file, generated from the models and the sinks.

Sink entries get one branch per registered type, so an editor checks each sink's
`parameters` too. `kvgate schema --kind governance` prints it;
`policies/schema/governance.schema.json` is the committed copy (a test fails when it is
out of date).
"""

from __future__ import annotations

from gateway.config.schema import render, typed_entries_schema
from gateway.governance.config import GovernancePolicy
from gateway.governance.sinks.registry import SinkRegistry

SCHEMA_ID = "https://kvgate.dev/schemas/governance.schema.json"


def governance_schema(registry: SinkRegistry) -> dict[str, object]:
    return typed_entries_schema(
        GovernancePolicy, "SinkSpec", {n: c.Params for n, c in registry.types.items()}, SCHEMA_ID
    )


def render_governance_schema(registry: SinkRegistry) -> str:
    return render(governance_schema(registry))

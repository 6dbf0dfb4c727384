"""The shipped policy file, the built-in defaults and the committed schema agree."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from gateway.config.defaults import default_policy
from gateway.config.loader import read_policy
from gateway.config.schema import policy_schema, render_schema
from gateway.plugins.base import PluginDeps
from gateway.plugins.registry import builtin_registry
from gateway.prefix.memory import MemoryPrefixIndex
from gateway.routing.runtime import build_runtime

POLICIES = Path(__file__).parents[3] / "policies"


def test_builtin_defaults_equal_the_shipped_routing_yaml() -> None:
    policy, _ = read_policy(POLICIES / "routing.yaml")
    assert policy == default_policy()


def test_the_shipped_policy_builds() -> None:
    runtime = build_runtime(
        default_policy(), builtin_registry(), PluginDeps(MemoryPrefixIndex(), 16)
    )
    assert set(runtime.profiles) == {
        "long-context",
        "chat",
        "batch",
        "least-loaded",
        "prefix-only",
        "round-robin",
        "random",
    }
    assert {c: p.name for c, p in runtime.class_profiles.items()} == {
        "long_context": "long-context",
        "batch": "batch",
        "chat": "chat",
    }


def test_committed_schema_is_current() -> None:
    committed = (POLICIES / "schema" / "routing.schema.json").read_text()
    assert committed == render_schema(builtin_registry()), (
        "regenerate: kvgate schema --output policies/schema/routing.schema.json"
    )


def test_schema_lists_every_plugin_type_with_its_parameters() -> None:
    schema = policy_schema(builtin_registry())
    spec = schema["$defs"]["PluginSpec"]  # type: ignore[index]
    assert spec["properties"]["type"]["enum"] == sorted(builtin_registry().classes)
    branches = {b["if"]["properties"]["type"]["const"]: b["then"] for b in spec["allOf"]}
    prefix = branches["prefix-cache-scorer"]["properties"]["parameters"]
    assert set(prefix["properties"]) == {"loadSlack", "loadSlackRatio"}
    assert prefix["additionalProperties"] is False


def test_shipped_yaml_is_valid_against_the_schema_shape() -> None:
    # No JSON-Schema validator is a dependency; check the keys the schema requires.
    document = yaml.safe_load((POLICIES / "routing.yaml").read_text())
    schema = json.loads((POLICIES / "schema" / "routing.schema.json").read_text())
    assert set(schema["required"]) <= set(document)
    assert set(document) <= set(schema["properties"])

"""The safety policy file: validation, profiles and bindings, the shipped file and schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gateway.cli import load_settings
from gateway.config.models import PolicyError
from gateway.safety.base import GuardDeps
from gateway.safety.defaults import default_safety_policy
from gateway.safety.loader import initial_safety, parse_safety
from gateway.safety.models import SafetyPolicy
from gateway.safety.registry import builtin_guards
from gateway.safety.runtime import build_safety_runtime
from gateway.safety.schema import render_safety_schema, render_tenants_schema, safety_schema

POLICIES = Path(__file__).parents[3] / "policies"


def _document(**overrides: object) -> dict[str, object]:
    document: dict[str, object] = {
        "apiVersion": "kvgate.dev/v1alpha1",
        "kind": "SafetyPolicy",
        "guards": [
            {"type": "prompt-injection"},
            {"type": "sensitive-data", "name": "pii"},
            {"type": "output-patterns", "name": "out"},
        ],
        "profiles": [
            {"name": "std", "input": ["prompt-injection", "pii"], "output": ["out"]},
            {"name": "light", "input": ["pii"]},
            {"name": "off"},
        ],
        "bindings": [
            {"profile": "off", "tenants": ["internal-*"]},
            {"profile": "light", "tenants": ["acme"], "models": ["llama-*"]},
        ],
        "defaultProfile": "std",
    }
    document.update(overrides)
    return document


def _built(document: dict[str, object]) -> object:
    policy = parse_safety(yaml.safe_dump(document).encode(), "safety.yaml")
    return build_safety_runtime(policy, builtin_guards(), GuardDeps())


@pytest.mark.parametrize(
    ("tenant", "model", "profile"),
    [
        pytest.param("internal-eval", "anything", "off", id="tenant-glob"),
        pytest.param("acme", "llama-3-8b", "light", id="tenant-and-model"),
        pytest.param("acme", "Qwen/Qwen2.5-7B", "std", id="model-does-not-match"),
        pytest.param("anonymous", "llama-3-8b", "std", id="default"),
    ],
)
def test_bindings_pick_a_profile_per_tenant_and_model(
    tenant: str, model: str, profile: str
) -> None:
    runtime = _built(_document())
    from gateway.safety.runtime import SafetyRuntime

    assert isinstance(runtime, SafetyRuntime)
    assert runtime.profile_for(tenant, model).name == profile


def test_profiles_sort_guards_by_kind() -> None:
    from gateway.safety.runtime import SafetyRuntime

    runtime = _built(_document())
    assert isinstance(runtime, SafetyRuntime)
    std = runtime.profiles["std"]
    assert [g.name for g in std.local] == ["prompt-injection", "pii"]
    assert [g.name for g in std.output] == ["out"]
    assert runtime.profiles["off"].empty


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"defaultProfile": "nope"}, "unknown profile", id="unknown-default"),
        pytest.param({"bindings": [{"profile": "nope"}]}, "unknown profile", id="unknown-binding"),
        pytest.param(
            {"profiles": [{"name": "std", "input": ["ghost"]}]}, "unknown guard", id="unknown-guard"
        ),
        pytest.param(
            {"guards": [{"type": "prompt-injection"}, {"type": "prompt-injection"}]},
            "duplicate guard",
            id="duplicate-guard",
        ),
        pytest.param({"kind": "RoutingPolicy"}, "kind", id="wrong-kind"),
        pytest.param({"extra": 1}, "extra", id="unknown-key"),
    ],
)
def test_structural_mistakes_are_rejected(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_safety(yaml.safe_dump(_document(**overrides)).encode(), "safety.yaml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"guards": [{"type": "no-such-guard"}]}, "unknown guard type", id="unknown-type"
        ),
        pytest.param(
            {"guards": [{"type": "prompt-injection", "parameters": {"threshold": 2}}]},
            "threshold",
            id="bad-parameter",
        ),
    ],
)
def test_build_mistakes_are_rejected(overrides: dict[str, object], message: str) -> None:
    document = _document(**overrides, profiles=[{"name": "std"}], bindings=[])
    with pytest.raises(PolicyError, match=message):
        _built(document)


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        pytest.param(
            {"name": "std", "output": ["pii"]}, "input guard, not an output", id="input-as-output"
        ),
        pytest.param(
            {"name": "std", "input": ["out"]}, "output guard, not an input", id="output-as-input"
        ),
    ],
)
def test_guards_in_the_wrong_stage_are_rejected(profile: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _built(_document(profiles=[profile], bindings=[]))


def test_builtin_defaults_equal_the_shipped_safety_yaml() -> None:
    policy, _ = initial_safety(POLICIES / "safety.yaml")
    assert policy == default_safety_policy()
    assert SafetyPolicy.model_validate(policy.model_dump(by_alias=True)) == policy


def test_the_shipped_policy_builds_with_injection_pii_and_output_guards() -> None:
    runtime = build_safety_runtime(default_safety_policy(), builtin_guards(), GuardDeps())
    standard = runtime.profile_for("anonymous", "any-model")
    assert standard.name == "standard"
    assert [g.name for g in standard.local] == ["tenant-allowlist", "prompt-injection", "pii"]
    assert [g.name for g in standard.output] == ["output-compliance"]


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        pytest.param(
            "safety.schema.json", lambda: render_safety_schema(builtin_guards()), id="safety"
        ),
        pytest.param("tenants.schema.json", render_tenants_schema, id="tenants"),
    ],
)
def test_committed_schemas_are_current(path: str, rendered: object) -> None:
    assert callable(rendered)
    assert (POLICIES / "schema" / path).read_text() == rendered(), (
        f"regenerate: kvgate schema --kind {path.split('.')[0]} --output policies/schema/{path}"
    )


def test_schema_lists_every_guard_type_with_its_parameters() -> None:
    schema = safety_schema(builtin_guards())
    spec = schema["$defs"]["GuardSpec"]  # type: ignore[index]
    assert spec["properties"]["type"]["enum"] == sorted(builtin_guards().classes)
    branches = {b["if"]["properties"]["type"]["const"]: b["then"] for b in spec["allOf"]}
    classifier = branches["external-classifier"]["properties"]["parameters"]
    assert {"url", "model", "timeout", "fail"} <= set(classifier["required"])
    assert json.dumps(schema)  # nested parameter models are hoisted into $defs


def test_a_bad_safety_file_stops_the_gateway_from_starting(tmp_path: Path) -> None:
    bad = tmp_path / "safety.yaml"
    bad.write_text("apiVersion: kvgate.dev/v1alpha1\nkind: SafetyPolicy\nprofiles: []\n")
    with pytest.raises(SystemExit, match=str(bad)):
        load_settings({"backends": ["http://127.0.0.1:9"], "safety_policy_file": bad})

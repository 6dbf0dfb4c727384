"""The governance policy file, `--audit-sink` flags, the sink registry, the shipped copies."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from opentelemetry.trace import Span

from gateway.governance.config import (
    GovernancePolicyError,
    SinkSpec,
    default_governance,
    parse_governance,
    read_governance,
    sink_from_flag,
)
from gateway.governance.schema import render_governance_schema
from gateway.governance.setup import build_governance, check_governance
from gateway.governance.sinks.registry import SinkDeps, builtin_sinks
from gateway.settings import GatewaySettings
from tests.gateway.governance.facts import call

POLICIES = Path(__file__).parents[3] / "policies"


@pytest.mark.parametrize(
    ("flag", "spec"),
    [
        pytest.param(
            "jsonl:stdout", SinkSpec(type="jsonl", parameters={"path": "stdout"}), id="stdout"
        ),
        pytest.param(
            "jsonl", SinkSpec(type="jsonl", parameters={"path": "stdout"}), id="bare-jsonl"
        ),
        pytest.param(
            "jsonl:/var/log/kvgate/audit.jsonl",
            SinkSpec(type="jsonl", parameters={"path": "/var/log/kvgate/audit.jsonl"}),
            id="file",
        ),
        pytest.param(
            "redis-stream:kvgate:audit",
            SinkSpec(type="redis-stream", parameters={"key": "kvgate:audit"}),
            id="redis-key-with-colon",
        ),
        pytest.param("otel", SinkSpec(type="otel"), id="otel"),
    ],
)
def test_sink_flags(flag: str, spec: SinkSpec) -> None:
    assert sink_from_flag(flag) == spec


@pytest.mark.parametrize("flag", ["kafka:topic", "redis-stream", "otel:x", ""])
def test_bad_sink_flags(flag: str) -> None:
    with pytest.raises(GovernancePolicyError, match="--audit-sink"):
        sink_from_flag(flag)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(b"audit: [", "not valid YAML", id="yaml"),
        pytest.param(b"- a list", "mapping at the top level", id="not-a-mapping"),
        pytest.param(b"audit: {recordPromptText: maybe}", "audit.recordPromptText", id="type"),
        pytest.param(b"audit: {sinks: [{type: Kafka}]}", "audit.sinks.0.type", id="type-name"),
        pytest.param(b"monitr: {}", "monitr", id="unknown-key"),
        pytest.param(
            b"monitor: {minRequests: 600, currentRequests: 500}",
            "minRequests cannot exceed currentRequests",
            id="windows",
        ),
    ],
)
def test_bad_files_name_the_problem(text: bytes, problem: str) -> None:
    with pytest.raises(GovernancePolicyError, match=problem) as info:
        parse_governance(text, "gov.yaml")
    assert str(info.value).startswith("gov.yaml: ")


@pytest.mark.parametrize(
    ("spec", "deps", "problem"),
    [
        pytest.param(SinkSpec(type="kafka"), SinkDeps(), "unknown audit sink type", id="type"),
        pytest.param(
            SinkSpec(type="jsonl", parameters={"file": "x"}), SinkDeps(), "file", id="param"
        ),
        pytest.param(
            SinkSpec(type="redis-stream", parameters={"key": "k"}),
            SinkDeps(),
            "needs --redis-url",
            id="redis-without-url",
        ),
        pytest.param(
            SinkSpec(type="redis-stream", parameters={"key": "k", "maxLen": 0}),
            SinkDeps(redis_url="redis://x"),
            "maxLen",
            id="redis-bound",
        ),
    ],
)
def test_sink_registry_refuses(spec: SinkSpec, deps: SinkDeps, problem: str) -> None:
    with pytest.raises(GovernancePolicyError, match=problem):
        builtin_sinks().check(spec, deps)


async def test_flags_replace_the_files_sinks(tmp_path: Path) -> None:
    settings = GatewaySettings(
        governance_file=POLICIES / "governance.yaml",
        audit_sinks=(f"jsonl:{tmp_path / 'a.jsonl'}", "otel"),
    )
    check_governance(settings)
    governance = build_governance(settings, lambda engine, model: None)
    assert [name for name, _ in governance.stats().sinks] == ["jsonl"]
    with governance.trace(call(received_at=asyncio.get_running_loop().time())) as span:
        assert isinstance(span, Span)
        assert span.is_recording()  # an otel sink turns tracing on
    assert governance.output_sample_bytes == 16384
    await governance.aclose()


def test_settings_split_sink_lists() -> None:
    settings = GatewaySettings.model_validate({"audit_sinks": "jsonl:stdout, otel"})
    assert settings.audit_sinks == ("jsonl:stdout", "otel")


def test_shipped_file_is_the_defaults_plus_a_stdout_sink() -> None:
    shipped = read_governance(POLICIES / "governance.yaml")
    assert shipped.audit.sinks == (SinkSpec(type="jsonl", parameters={"path": "stdout"}),)
    without_sinks = shipped.model_copy(
        update={"audit": shipped.audit.model_copy(update={"sinks": ()})}
    )
    assert without_sinks == default_governance()
    assert default_governance().audit.record_prompt_text is False


def test_committed_schema_is_current() -> None:
    committed = (POLICIES / "schema" / "governance.schema.json").read_text()
    assert committed == render_governance_schema(builtin_sinks()), (
        "regenerate: kvgate schema --kind governance --output "
        "policies/schema/governance.schema.json"
    )


def test_shipped_yaml_keys_are_in_the_schema() -> None:
    document = yaml.safe_load((POLICIES / "governance.yaml").read_text())
    schema = json.loads((POLICIES / "schema" / "governance.schema.json").read_text())
    assert set(document) <= set(schema["properties"])
    branches = schema["$defs"]["SinkSpec"]["allOf"]
    assert {b["if"]["properties"]["type"]["const"] for b in branches} == {
        "jsonl",
        "redis-stream",
        "otel",
    }

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.loader import parse_policy, read_policy
from gateway.config.models import PolicyError
from tests.gateway.config.policies import as_yaml, default_document, mutated

MINIMAL = b"""
apiVersion: kvgate.dev/v1alpha1
kind: RoutingPolicy
plugins:
  - type: round-robin-picker
schedulingProfiles:
  - name: rr
    plugins: [{pluginRef: round-robin-picker}]
classes:
  - {name: chat, profile: rr}
classification:
  longContext: null
  lowPriority: null
"""


def test_minimal_file_gets_defaults() -> None:
    policy = parse_policy(MINIMAL, "minimal.yaml")
    assert policy.classification.default == "chat"
    assert policy.classification.header == "x-kvgate-class"
    assert policy.response_headers.enabled
    assert policy.plugins[0].ref == "round-robin-picker"


def test_default_document_round_trips() -> None:
    assert parse_policy(as_yaml(default_document()), "x") == parse_policy(
        as_yaml(default_document()), "y"
    )


def _with_profile_plugins(*refs: dict[str, object]) -> dict[str, object]:
    document = default_document()
    profiles = document["schedulingProfiles"]
    assert isinstance(profiles, list)
    profiles[0] = {"name": profiles[0]["name"], "plugins": list(refs)}
    return document


BAD = [
    pytest.param(b"plugins: [", "not valid YAML", id="yaml-syntax"),
    pytest.param(b"- a list", "expected a mapping", id="not-a-mapping"),
    pytest.param(as_yaml(mutated(apiVersion="v2")), "apiVersion", id="api-version"),
    pytest.param(as_yaml(mutated(kind="Other")), "kind", id="kind"),
    pytest.param(as_yaml(mutated(extra=1)), "extra: Extra inputs", id="unknown-key"),
    pytest.param(as_yaml(mutated(plugins=[])), "plugins: Tuple should have at least 1", id="empty"),
    pytest.param(
        as_yaml(mutated(plugins=[{"type": "Bad_Type"}])), "plugins.0.type", id="type-not-kebab"
    ),
    pytest.param(
        as_yaml(
            mutated(
                plugins=[*default_document()["plugins"], {"type": "ready"}]  # type: ignore[list-item]
            )
        ),
        "duplicate plugin name: ready",
        id="duplicate-plugin",
    ),
    pytest.param(
        as_yaml(_with_profile_plugins({"pluginRef": "nope"})),
        "refers to unknown plugin 'nope'",
        id="unknown-plugin-ref",
    ),
    pytest.param(
        as_yaml(_with_profile_plugins({"pluginRef": "ready"}, {"pluginRef": "ready"})),
        "duplicate plugin in profile",
        id="plugin-twice-in-profile",
    ),
    pytest.param(
        as_yaml(_with_profile_plugins({"pluginRef": "in-flight-scorer", "weight": -1})),
        "weight: Input should be greater than or equal to 0",
        id="negative-weight",
    ),
    pytest.param(
        as_yaml(mutated(classes=[{"name": "chat", "profile": "nope"}])),
        "class 'chat' uses unknown profile 'nope'",
        id="unknown-profile",
    ),
    pytest.param(
        as_yaml(mutated(classes=[{"name": "chat", "profile": "chat"}])),
        "classification.longContext names unknown class 'long_context'",
        id="rule-names-missing-class",
    ),
    pytest.param(
        as_yaml(mutated(classes=[{"name": "Chat!", "profile": "chat"}])),
        "classes.0.name",
        id="class-name-not-a-label",
    ),
    pytest.param(
        as_yaml(
            mutated(
                classification={"longContext": {"class": "long_context", "promptTokensAbove": -1}}
            )
        ),
        "promptTokensAbove: Input should be greater than or equal to 0",
        id="negative-threshold",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_bad_files_are_rejected_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, "routing.yaml")
    assert str(caught.value).startswith("routing.yaml: ")
    assert message in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        read_policy(tmp_path / "absent.yaml")


def test_read_gives_the_digest_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(MINIMAL)
    _, first = read_policy(path)
    path.write_bytes(MINIMAL + b"\n# a comment\n")
    _, second = read_policy(path)
    assert first != second

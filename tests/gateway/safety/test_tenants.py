"""Tenants file, key naming and the tenant-allowlist guard."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway.auth.api_keys import ApiKeyAuthenticator
from gateway.config.models import PolicyError
from gateway.errors import TenantPolicyError
from gateway.routing.request import InferenceRequest
from gateway.safety.allowlist import TenantAllowlistGuard
from gateway.safety.base import GuardDeps
from gateway.safety.loader import initial_tenants, parse_tenants
from gateway.safety.tenants import TenantDirectory, TenantPolicy
from gateway.safety.texts import request_segments
from tests.gateway.safety.builders import chat, completion, embedding

EXAMPLE = Path(__file__).parents[3] / "policies" / "tenants.example.yaml"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _directory(**allow: object) -> TenantDirectory:
    return TenantDirectory(
        TenantPolicy.model_validate(
            {
                "apiVersion": "kvgate.dev/v1alpha1",
                "kind": "TenantPolicy",
                "tenants": [{"name": "acme", "keys": [_digest("k1")[:8]], "allow": allow}],
            }
        )
    )


def _check(directory: TenantDirectory, request: InferenceRequest) -> TenantAllowlistGuard:
    return TenantAllowlistGuard.build("allowlist", {}, GuardDeps(tenants=lambda: directory))


TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
OTHER_TOOL = {"type": "function", "function": {"name": "rm_rf", "parameters": {}}}


@pytest.mark.parametrize(
    ("allow", "request_", "reason", "param"),
    [
        pytest.param(
            {"routes": ["chat"]},
            completion("hi", tenant="acme"),
            "route_not_allowed",
            "model",
            id="route",
        ),
        pytest.param(
            {"models": ["llama-*"]},
            chat(("user", "hi"), tenant="acme"),
            "model_not_allowed",
            "model",
            id="model",
        ),
        pytest.param(
            {"systemRole": False},
            chat(("system", "x"), ("user", "hi"), tenant="acme"),
            "system_role_not_allowed",
            "messages",
            id="system",
        ),
        pytest.param(
            {"systemRole": False},
            chat(("developer", "x"), ("user", "hi"), tenant="acme"),
            "system_role_not_allowed",
            "messages",
            id="developer",
        ),
        pytest.param(
            {"tools": ["get_weather"]},
            chat(("user", "hi"), tenant="acme", tools=[TOOL, OTHER_TOOL]),
            "tool_not_allowed",
            "tools",
            id="tool",
        ),
        pytest.param(
            {"tools": []},
            chat(("user", "hi"), tenant="acme", tools=[TOOL]),
            "tool_not_allowed",
            "tools",
            id="no-tools",
        ),
        pytest.param(
            {"tools": ["get_weather"]},
            chat(
                ("user", "hi"),
                tenant="acme",
                tool_choice={"type": "function", "function": {"name": "rm_rf"}},
            ),
            "tool_not_allowed",
            "tools",
            id="forced-tool",
        ),
        pytest.param(
            {"maxTokens": 100},
            chat(("user", "hi"), tenant="acme", max_tokens=101),
            "max_tokens_above_ceiling",
            "max_tokens",
            id="max-tokens",
        ),
        pytest.param(
            {"maxTokens": 100},
            chat(("user", "hi"), tenant="acme", max_completion_tokens=500),
            "max_tokens_above_ceiling",
            "max_tokens",
            id="max-completion-tokens",
        ),
        pytest.param(
            {"sampling": {"temperature": {"max": 1.0}}},
            chat(("user", "hi"), tenant="acme", temperature=1.5),
            "sampling_out_of_bounds",
            "temperature",
            id="temperature",
        ),
        pytest.param(
            {"sampling": {"n": {"max": 1}}},
            chat(("user", "hi"), tenant="acme", n=2),
            "sampling_out_of_bounds",
            "n",
            id="n",
        ),
        pytest.param(
            {"sampling": {"top_p": {"min": 0.5}}},
            chat(("user", "hi"), tenant="acme", top_p=0.1),
            "sampling_out_of_bounds",
            "top_p",
            id="top-p",
        ),
    ],
)
def test_a_key_cannot_do_what_its_tenant_is_not_granted(
    allow: dict[str, object], request_: InferenceRequest, reason: str, param: str
) -> None:
    guard = _check(_directory(**allow), request_)
    result = guard.check(request_, request_segments(request_))
    assert [(v.action, v.reason) for v in result.verdicts] == [("block", reason)]
    assert isinstance(result.refusal, TenantPolicyError)
    assert (result.refusal.status_code, result.refusal.code) == (403, "tenant_policy_violation")
    assert result.refusal.param == param


@pytest.mark.parametrize(
    ("allow", "request_"),
    [
        pytest.param(
            {},
            chat(("system", "x"), ("user", "hi"), tenant="acme", tools=[TOOL]),
            id="nothing-restricted",
        ),
        pytest.param(
            {"models": ["Qwen/*"], "systemRole": True},
            chat(("user", "hi"), tenant="acme"),
            id="model-glob",
        ),
        pytest.param(
            {"tools": ["get_weather"]},
            chat(("user", "hi"), tenant="acme", tools=[TOOL]),
            id="granted-tool",
        ),
        pytest.param(
            {"maxTokens": 100}, chat(("user", "hi"), tenant="acme", max_tokens=100), id="at-ceiling"
        ),
        pytest.param(
            {"sampling": {"temperature": {"min": 0, "max": 1}}},
            chat(("user", "hi"), tenant="acme", temperature=1),
            id="in-bounds",
        ),
    ],
)
def test_granted_requests_pass(allow: dict[str, object], request_: InferenceRequest) -> None:
    guard = _check(_directory(**allow), request_)
    result = guard.check(request_, request_segments(request_))
    assert result.refusal is None
    assert result.verdicts == ()


def test_a_request_without_max_tokens_gets_the_ceiling() -> None:
    request = chat(("user", "hi"), tenant="acme")
    result = _check(_directory(maxTokens=64), request).check(request, ())
    assert result.set_fields == {"max_tokens": 64}
    assert _check(_directory(maxTokens=64), request).check(embedding("x"), ()).set_fields is None


def test_flag_action_records_without_refusing() -> None:
    directory = _directory(models=["llama-*"])
    guard = TenantAllowlistGuard.build(
        "allowlist", {"action": "flag"}, GuardDeps(tenants=lambda: directory)
    )
    request = chat(("user", "hi"), tenant="acme")
    result = guard.check(request, ())
    assert result.refusal is None
    assert [(v.action, v.reason) for v in result.verdicts] == [("flag", "model_not_allowed")]


def test_unlisted_tenants_get_the_defaults_and_no_file_restricts_nothing() -> None:
    policy = TenantPolicy.model_validate(
        {"apiVersion": "kvgate.dev/v1alpha1", "kind": "TenantPolicy", "defaults": {"routes": []}}
    )
    request = chat(("user", "hi"), tenant="someone")
    refused = _check(TenantDirectory(policy), request).check(request, ())
    assert refused.refusal is not None
    assert TenantDirectory.empty().allowlist("someone") is None


@pytest.mark.parametrize(
    ("keys", "digest", "tenant"),
    [
        pytest.param([_digest("k1")[:8]], _digest("k1"), "acme", id="eight-digits"),
        pytest.param([_digest("k1")], _digest("k1"), "acme", id="full-digest"),
        pytest.param([_digest("k1")[:12]], _digest("k2"), None, id="other-key"),
    ],
)
def test_key_ids_name_tenants(keys: list[str], digest: str, tenant: str | None) -> None:
    policy = TenantPolicy.model_validate(
        {
            "apiVersion": "kvgate.dev/v1alpha1",
            "kind": "TenantPolicy",
            "tenants": [{"name": "acme", "keys": keys}],
        }
    )
    assert TenantDirectory(policy).tenant_for_key(digest) == tenant


def test_the_authenticator_names_keys_it_is_told_about() -> None:
    directory = _directory()
    auth = ApiKeyAuthenticator(["k1", "k2"], directory.tenant_for_key)
    assert auth.authenticate(b"Bearer k1").tenant == "acme"
    assert auth.authenticate(b"Bearer k2").tenant == _digest("k2")[:8]


@pytest.mark.parametrize(
    ("tenants", "message"),
    [
        pytest.param([{"name": "a", "keys": ["XYZ"]}], "hex", id="not-hex"),
        pytest.param([{"name": "a", "keys": ["abc"]}], "hex", id="too-short"),
        pytest.param(
            [{"name": "a", "keys": ["abcdef01"]}, {"name": "b", "keys": ["abcdef0123"]}],
            "prefix",
            id="ambiguous",
        ),
        pytest.param([{"name": "a"}, {"name": "a"}], "duplicate tenant name", id="duplicate"),
        pytest.param(
            [{"name": "a", "allow": {"sampling": {"temperature": {"min": 2, "max": 1}}}}],
            "above max",
            id="bounds",
        ),
        pytest.param(
            [{"name": "a", "allow": {"sampling": {"seed": {"max": 1}}}}],
            "seed",
            id="unknown-sampling-field",
        ),
    ],
)
def test_bad_tenants_files_are_rejected(tenants: list[object], message: str) -> None:
    import yaml

    document = {"apiVersion": "kvgate.dev/v1alpha1", "kind": "TenantPolicy", "tenants": tenants}
    with pytest.raises(PolicyError, match=message):
        parse_tenants(yaml.safe_dump(document).encode(), "tenants.yaml")


def test_the_example_file_validates_and_names_its_keys() -> None:
    directory, digest = initial_tenants(EXAMPLE)
    assert digest
    assert directory.tenant_for_key(_digest("acme-key-1")) == "acme"
    assert directory.tenant_for_key(_digest("batch-key")) == "batch-jobs"
    assert directory.tenant_for_key(_digest("eval-key")) == "internal-eval"
    defaults = directory.allowlist("anonymous")
    assert defaults is not None
    assert defaults.system_role is False

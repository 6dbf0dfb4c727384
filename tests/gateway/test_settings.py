from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import build_parser, load_settings, main
from gateway.config.schema import render_schema
from gateway.plugins.registry import builtin_registry
from gateway.settings import GatewaySettings


def _flags(*argv: str) -> dict[str, object]:
    args = vars(build_parser().parse_args(["serve", *argv]))
    args.pop("command")
    return args


def test_defaults() -> None:
    settings = GatewaySettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.drain_timeout == 30.0
    assert not settings.access_log
    assert settings.api_key_file is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("http://a:1", ("http://a:1",), id="one"),
        pytest.param("http://a:1,http://b:2/", ("http://a:1", "http://b:2"), id="comma"),
        pytest.param("http://a:1 http://b:2", ("http://a:1", "http://b:2"), id="space"),
    ],
)
def test_backends_from_env(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]
) -> None:
    monkeypatch.setenv("KVGATE_BACKENDS", value)
    assert GatewaySettings().backends == expected


def test_flags_override_env_and_absent_flags_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVGATE_PORT", "9000")
    monkeypatch.setenv("KVGATE_DRAIN_TIMEOUT", "5")
    flags = _flags("--port", "9100", "--backend", "http://a:1", "--backend", "http://b:2")
    settings = load_settings(flags)
    assert settings.port == 9100
    assert settings.drain_timeout == 5.0
    assert settings.backends == ("http://a:1", "http://b:2")


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-backends"),
        pytest.param(["--backend", "a:1"], id="url-without-scheme"),
        pytest.param(["--backend", "http://a:1", "--drain-timeout", "0"], id="zero-timeout"),
        pytest.param(["--backend", "http://a:1", "--api-key-file", "/nonexistent"], id="no-keys"),
    ],
)
def test_bad_settings_exit_with_a_message(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        load_settings(_flags(*argv))
    assert str(caught.value.code).startswith("kvgate: ")


def test_backends_file_counts_as_backends(tmp_path: Path) -> None:
    path = tmp_path / "backends.yaml"
    path.write_text("backends:\n  - http://a:1\n")
    assert load_settings(_flags("--backends-file", str(path))).backends_file == path


def test_routing_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_KV_AWARE_ROUTING", "false")
    monkeypatch.setenv("PROMPT_TOKEN_THRESHOLD", "512")
    monkeypatch.setenv(
        "KVGATE_KV_EVENTS_ENDPOINTS", "http://a:1=tcp://a:5557 http://b:2/=tcp://b:5557"
    )
    settings = GatewaySettings()
    assert not settings.kv_aware_routing
    assert settings.prompt_token_threshold == 512
    assert settings.kv_events_by_url() == {
        "http://a:1": "tcp://a:5557",
        "http://b:2": "tcp://b:5557",
    }


def test_routing_flags() -> None:
    settings = load_settings(
        _flags(
            "--backend",
            "http://a:1",
            "--routing-profile",
            "round-robin",
            "--prefix-mode",
            "both",
            "--kv-events-endpoint",
            "http://a:1=tcp://127.0.0.1:5557",
            "--redis-url",
            "redis://127.0.0.1:6379/0",
            "--no-kv-aware-routing",
        )
    )
    assert settings.routing_profile == "round-robin"
    assert settings.prefix_mode == "both"
    assert settings.kv_events_by_url() == {"http://a:1": "tcp://127.0.0.1:5557"}
    assert settings.redis_url is not None
    assert not settings.kv_aware_routing


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--kv-events-endpoint", "tcp://x:1"], "ENGINE_URL=", id="kv-events-no-url"),
        pytest.param(
            ["--kv-events-endpoint", "http://a:1=http://x"], "tcp://", id="kv-events-scheme"
        ),
        pytest.param(["--routing-profile", "nope"], "not a profile", id="unknown-profile"),
        pytest.param(["--policy-file", "/nonexistent.yaml"], "cannot read", id="no-policy-file"),
        pytest.param(["--tokenizer", "nope"], "unknown tokenizer", id="bad-tokenizer"),
    ],
)
def test_bad_routing_settings_exit_with_a_message(argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as caught:
        load_settings(_flags("--backend", "http://a:1", *argv))
    assert str(caught.value.code).startswith("kvgate: ")
    assert message in str(caught.value.code)


def test_bad_policy_file_exits_naming_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("apiVersion: kvgate.dev/v1alpha1\nkind: RoutingPolicy\nplugins: []\n")
    with pytest.raises(SystemExit) as caught:
        load_settings(_flags("--backend", "http://a:1", "--policy-file", str(path)))
    assert f"kvgate: {path}: " in str(caught.value.code)


def test_schema_command_writes_the_schema(tmp_path: Path) -> None:
    output = tmp_path / "schema.json"
    assert main(["schema", "--output", str(output)]) == 0
    assert output.read_text() == render_schema(builtin_registry())


def _kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def test_kubernetes_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVGATE_K8S_SERVICES", "a:http,llm/b c")
    monkeypatch.setenv("KVGATE_K8S_LABEL_SELECTOR", "app=vllm,tier in (online)")
    monkeypatch.setenv("KVGATE_K8S_NAMESPACE", "llm")
    settings = GatewaySettings()
    assert settings.k8s_services == ("a:http", "llm/b", "c")
    assert settings.k8s_label_selector == "app=vllm,tier in (online)"
    assert settings.kubernetes_discovery()
    monkeypatch.delenv("KVGATE_K8S_SERVICES")
    monkeypatch.delenv("KVGATE_K8S_LABEL_SELECTOR")
    assert not GatewaySettings().kubernetes_discovery()


def test_kubernetes_flags_need_no_backends(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path)
    settings = load_settings(
        _flags(
            "--k8s-service",
            "vllm-a:http",
            "--k8s-service",
            "other/vllm-b",
            "--k8s-namespace",
            "llm",
            "--k8s-port",
            "8000",
            "--kubeconfig",
            str(kubeconfig),
            "--kube-context",
            "x",
            "--k8s-sync-timeout",
            "3",
        )
    )
    assert settings.k8s_services == ("vllm-a:http", "other/vllm-b")
    assert (settings.k8s_namespace, settings.k8s_port) == ("llm", "8000")
    assert (settings.kubeconfig, settings.kube_context) == (kubeconfig, "x")
    assert settings.k8s_sync_timeout == 3.0
    assert load_settings(
        _flags("--k8s-label-selector", "app=vllm", "--kubeconfig", str(kubeconfig))
    ).kubernetes_discovery()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param([], "--k8s-service", id="no-engines-names-every-source"),
        pytest.param(["--k8s-service", "vllm:"], "[NAMESPACE/]NAME[:PORT]", id="bad-service"),
        pytest.param(["--k8s-service", "/vllm"], "[NAMESPACE/]NAME[:PORT]", id="empty-namespace"),
        pytest.param(
            ["--k8s-service", "vllm", "--backend", "http://a:1"], "not both", id="both-sources"
        ),
        pytest.param(
            ["--k8s-service", "vllm", "--kube-context", "nope"], "kubeconfig", id="no-such-context"
        ),
        pytest.param(
            ["--k8s-service", "vllm", "--k8s-sync-timeout", "-1"], "k8s_sync_timeout", id="timeout"
        ),
    ],
)
def test_bad_kubernetes_settings_exit_with_a_message(
    argv: list[str], message: str, tmp_path: Path
) -> None:
    kubeconfig = ["--kubeconfig", str(_kubeconfig(tmp_path))] if argv else []
    with pytest.raises(SystemExit) as caught:
        load_settings(_flags(*argv, *kubeconfig))
    assert str(caught.value.code).startswith("kvgate: ")
    assert message in str(caught.value.code)


def test_a_missing_kubeconfig_exits_with_a_message(tmp_path: Path) -> None:
    argv = ["--k8s-service", "vllm", "--kubeconfig", str(tmp_path / "missing")]
    with pytest.raises(SystemExit) as caught:
        load_settings(_flags(*argv))
    assert "cannot load the kubeconfig" in str(caught.value.code)

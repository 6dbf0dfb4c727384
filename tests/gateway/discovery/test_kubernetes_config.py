from __future__ import annotations

from pathlib import Path

import pytest

from gateway.discovery.kubernetes_api import ClusterAccessError, load_configuration
from gateway.discovery.kubernetes_config import (
    ClusterAccess,
    DiscoveryConfigError,
    KubernetesDiscoveryConfig,
    PoolSource,
    WatchTiming,
    config_from_settings,
    parse_selector_flag,
    parse_service_flag,
)
from gateway.discovery.kubernetes_slices import PortNames


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        pytest.param("vllm", PoolSource("default", service="vllm"), id="name"),
        pytest.param(
            "vllm:http",
            PoolSource("default", service="vllm", ports=PortNames(http="http")),
            id="name-and-port-name",
        ),
        pytest.param(
            "vllm:8000",
            PoolSource("default", service="vllm", ports=PortNames(http="8000")),
            id="name-and-port-number",
        ),
        pytest.param("llm/vllm", PoolSource("llm", service="vllm"), id="namespace-and-name"),
    ],
)
def test_service_flags(flag: str, expected: PoolSource) -> None:
    source = parse_service_flag(flag, namespace="default")
    assert source == expected
    assert source.selector == f"kubernetes.io/service-name={expected.service}"


@pytest.mark.parametrize("flag", ["", ":http", "vllm:", "/vllm"])
def test_malformed_service_flags(flag: str) -> None:
    with pytest.raises(DiscoveryConfigError):
        parse_service_flag(flag, namespace="default")


def test_selector_flag() -> None:
    source = parse_selector_flag(" app=vllm,tier in (online) ", namespace="llm", port="http")
    assert source.selector == "app=vllm,tier in (online)"
    assert source.name == source.selector
    assert source.ports.http == "http"


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: PoolSource("default"), id="neither-service-nor-selector"),
        pytest.param(lambda: PoolSource("default", service="a", label_selector="b=c"), id="both"),
        pytest.param(lambda: PoolSource("", service="a"), id="no-namespace"),
        pytest.param(lambda: KubernetesDiscoveryConfig(sources=()), id="no-pools"),
        pytest.param(
            lambda: KubernetesDiscoveryConfig(
                sources=(PoolSource("a", service="x"), PoolSource("b", service="x"))
            ),
            id="duplicate-pool-names",
        ),
        pytest.param(lambda: WatchTiming(idle_timeout_s=0), id="zero-timeout"),
    ],
)
def test_invalid_configs(build: object) -> None:
    assert callable(build)
    with pytest.raises(DiscoveryConfigError):
        build()


async def test_in_cluster_access_reads_the_service_account(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token", encoding="utf-8")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    configuration = await load_configuration(
        ClusterAccess(), environ=environ, service_account_dir=tmp_path
    )
    assert configuration.host == "https://10.96.0.1:443"
    assert configuration.api_key["BearerToken"] == "Bearer sa-token"
    assert configuration.ssl_ca_cert == str(tmp_path / "ca.crt")


@pytest.mark.parametrize(
    "access",
    [
        pytest.param(ClusterAccess(in_cluster=True), id="in-cluster-without-service-account"),
        pytest.param(ClusterAccess(kubeconfig=Path("/nonexistent/kubeconfig")), id="no-file"),
    ],
)
async def test_missing_access_fails_clearly(access: ClusterAccess, tmp_path: Path) -> None:
    with pytest.raises(ClusterAccessError):
        await load_configuration(access, environ={}, service_account_dir=tmp_path)


def test_config_from_settings_builds_every_pool() -> None:
    config = config_from_settings(
        services=["vllm-a:http", "other/vllm-b"],
        namespace="llm",
        label_selector="tier=online",
        kubeconfig=Path("/k"),
    )
    assert [source.name for source in config.sources] == ["vllm-a", "vllm-b", "tier=online"]
    assert [source.namespace for source in config.sources] == ["llm", "other", "llm"]
    assert config.access == ClusterAccess(kubeconfig=Path("/k"))


def test_config_from_settings_needs_a_pool() -> None:
    with pytest.raises(DiscoveryConfigError):
        config_from_settings(services=[], namespace="llm")


def test_the_port_flag_applies_where_no_port_is_named() -> None:
    config = config_from_settings(
        services=["vllm-a:metrics", "vllm-b"], namespace="llm", label_selector="x=y", port="api"
    )
    assert [source.ports.http for source in config.sources] == ["metrics", "api", "api"]

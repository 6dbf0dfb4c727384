from __future__ import annotations

import pytest

from gateway.discovery.kubernetes_slices import (
    EndpointState,
    PortNames,
    SliceFormatError,
    SlicePort,
    discovered_endpoints,
    endpoint_state,
    parse_slice,
    resolve_port,
)
from tests.gateway.discovery.k8s_apiserver import Pod, endpoint_slice

SERVING, TERMINATING, NOT_READY = (
    EndpointState.SERVING,
    EndpointState.TERMINATING,
    EndpointState.NOT_READY,
)


@pytest.mark.parametrize(
    ("ready", "serving", "terminating", "expected"),
    [
        pytest.param(True, True, False, SERVING, id="ready"),
        pytest.param(None, None, None, SERVING, id="all-unset-means-ready"),
        pytest.param(False, False, False, NOT_READY, id="failing-readiness-probe"),
        pytest.param(False, None, None, NOT_READY, id="old-server-without-serving"),
        pytest.param(True, False, None, NOT_READY, id="publish-not-ready-addresses"),
        pytest.param(False, True, True, TERMINATING, id="terminating-still-serving"),
        pytest.param(False, False, True, TERMINATING, id="terminating-not-serving"),
        pytest.param(True, True, True, TERMINATING, id="terminating-wins-over-ready"),
    ],
)
def test_conditions_map_to_routing_state(
    ready: bool | None, serving: bool | None, terminating: bool | None, expected: EndpointState
) -> None:
    assert endpoint_state(ready=ready, serving=serving, terminating=terminating) is expected


HTTP = SlicePort("http", 8000, "TCP")
METRICS = SlicePort("metrics", 8001, "TCP")
KV = SlicePort("kv-events", 5557, "TCP")
UDP = SlicePort("dns", 53, "UDP")
UNNAMED = SlicePort("", 9000, "TCP")


@pytest.mark.parametrize(
    ("ports", "wanted", "expected"),
    [
        pytest.param([HTTP, METRICS, KV], "http", 8000, id="by-name"),
        pytest.param([HTTP, METRICS, KV], "metrics", 8001, id="metrics-by-name"),
        pytest.param([HTTP, METRICS], "kv-events", None, id="missing-name"),
        pytest.param([HTTP, METRICS], "8001", 8001, id="by-number"),
        pytest.param([HTTP, METRICS], "9999", None, id="number-not-in-slice"),
        pytest.param([UNNAMED], None, 9000, id="default-single-port"),
        pytest.param([UNNAMED, UDP], None, 9000, id="default-single-tcp-port"),
        pytest.param([METRICS, HTTP], None, 8000, id="default-several-ports-takes-http"),
        pytest.param([METRICS, UNNAMED], None, None, id="default-several-ports-no-http"),
        pytest.param([UDP], "dns", None, id="udp-ignored"),
    ],
)
def test_ports_resolve_by_name_or_number(
    ports: list[SlicePort], wanted: str | None, expected: int | None
) -> None:
    assert resolve_port(ports, wanted) == expected


def test_a_slice_becomes_engines_with_urls_and_labels() -> None:
    raw = endpoint_slice(
        "vllm-abc",
        "vllm",
        [Pod("10.0.0.5", name="vllm-0"), Pod("10.0.0.6", ready=False, serving=False)],
        ports=(("http", 8000), ("metrics", 8001), ("kv-events", 5557)),
    )
    found = discovered_endpoints([parse_slice(raw)], PortNames(), "llama")
    first, second = found["10.0.0.5:8000"], found["10.0.0.6:8000"]
    assert (first.state, second.state) == (SERVING, NOT_READY)
    assert first.endpoint.url == "http://10.0.0.5:8000"
    assert dict(first.endpoint.labels) == {
        "pool": "llama",
        "namespace": "default",
        "metrics_url": "http://10.0.0.5:8001",
        "pod": "vllm-0",
        "node": "gpu-node-1",
        "zone": "zone-a",
    }
    assert first.endpoint.kv_events == "tcp://10.0.0.5:5557"


def test_ipv6_addresses_are_bracketed() -> None:
    raw = endpoint_slice("v6", "vllm", [Pod("fd00::5")], address_type="IPv6")
    (found,) = discovered_endpoints([parse_slice(raw)], PortNames(), "p").values()
    assert found.id == "[fd00::5]:8000"
    assert found.endpoint.url == "http://[fd00::5]:8000"


def test_metrics_fall_back_to_the_http_port() -> None:
    raw = endpoint_slice("s", "vllm", [Pod("10.0.0.5")], ports=(("http", 8000),))
    (found,) = discovered_endpoints([parse_slice(raw)], PortNames(), "p").values()
    assert found.endpoint.labels["metrics_url"] == "http://10.0.0.5:8000"
    assert found.endpoint.kv_events is None


def test_a_slice_without_the_wanted_port_yields_no_engines() -> None:
    raw = endpoint_slice("s", "vllm", [Pod("10.0.0.5")], ports=(("grpc", 9000), ("admin", 9001)))
    assert discovered_endpoints([parse_slice(raw)], PortNames(), "p") == {}


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        pytest.param((True, False), SERVING, id="serving-beats-not-ready"),
        pytest.param((False, True), SERVING, id="order-does-not-matter"),
    ],
)
def test_an_engine_in_two_slices_takes_the_better_state(
    states: tuple[bool, bool], expected: EndpointState
) -> None:
    slices = [
        parse_slice(endpoint_slice(f"s{i}", "vllm", [Pod("10.0.0.5", serving=ok, ready=ok)]))
        for i, ok in enumerate(states)
    ]
    assert discovered_endpoints(slices, PortNames(), "p")["10.0.0.5:8000"].state is expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"addressType": "IPv4"}, id="no-metadata"),
        pytest.param({"metadata": {}, "addressType": "IPv4"}, id="no-name"),
        pytest.param({"metadata": {"name": "s"}}, id="no-address-type"),
        pytest.param(
            {"metadata": {"name": "s"}, "addressType": "IPv4", "endpoints": [{"addresses": []}]},
            id="endpoint-without-address",
        ),
        pytest.param(
            {"metadata": {"name": "s"}, "addressType": "IPv4", "ports": "http"},
            id="ports-not-a-list",
        ),
    ],
)
def test_unreadable_slices_are_rejected(raw: dict[str, object]) -> None:
    with pytest.raises(SliceFormatError):
        parse_slice(raw)


def test_a_slice_with_no_endpoints_is_empty() -> None:
    view = parse_slice({"metadata": {"name": "s"}, "addressType": "IPv4", "endpoints": None})
    assert view.endpoints == ()

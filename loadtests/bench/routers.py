"""Routers under test, by name: `direct`, `kvgate[:variant]` and the peers (`smg[:policy]`, …).

A router spec is `name[:variant]`. `direct` is the client round-robining over the engines
(what a plain Kubernetes Service gives). `kvgate` variants are a table, name → extra
`kvgate serve` arguments, so they change without code: built in are `kvgate` (the default
routing), `kvgate:precise` and `kvgate:both` (prefix locality from the engines' KV events),
and any other `kvgate:NAME` means `--routing-profile NAME` (`random`, `round-robin`,
`least-loaded`, `prefix-only`, …). A peer's variant is its policy or strategy (PEERS in
`peers.py`). `start` launches a router in a `Fleet` and waits until a chat request through it
answers 200.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import httpx
import yaml

from loadtests.bench.peers import DEFAULT_ROOT, HOST, PEERS, Launch, LaunchContext, Peer
from loadtests.bench.peers import installed_version as peer_version
from loadtests.bench.procstat import cpu_seconds
from loadtests.fleet import Fleet, ManagedProcess, ProcessStartError, free_port


@dataclass(frozen=True)
class KvgateVariant:
    """Extra `kvgate serve` arguments; `kv_events`: the engines publish KV events and the
    gateway is given every engine's endpoint (`--kv-events-endpoint URL=tcp://…`)."""

    args: tuple[str, ...] = ()
    kv_events: bool = False


DEFAULT_KVGATE_VARIANTS: Mapping[str, KvgateVariant] = MappingProxyType(
    {
        "": KvgateVariant(),
        "precise": KvgateVariant(("--prefix-mode", "precise"), kv_events=True),
        "both": KvgateVariant(("--prefix-mode", "both"), kv_events=True),
    }
)


@dataclass(frozen=True)
class RouterSettings:
    """Where peers live, the kvgate variant table, extra arguments per router spec."""

    peers_root: Path = DEFAULT_ROOT
    kvgate_variants: Mapping[str, KvgateVariant] = field(
        default_factory=lambda: DEFAULT_KVGATE_VARIANTS
    )
    extra_args: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    python: str = sys.executable


@dataclass(frozen=True)
class Engines:
    """The engines of one point; `kv_events[i]` is engine i's publisher, when asked for."""

    urls: tuple[str, ...]
    model: str
    kv_events: tuple[str, ...] = ()


class Router(Protocol):
    """A router under test. `launch` returns None when no process is needed (`direct`)."""

    @property
    def spec(self) -> str: ...

    @property
    def kv_events(self) -> bool:
        """Whether the engines must publish KV events for it."""

    @property
    def notes(self) -> str: ...

    def unavailable(self) -> str | None:
        """Why it cannot run here (e.g. not installed), or None."""

    def version(self) -> str | None: ...

    def launch(self, engines: Engines, port: int, aux_port: int, workdir: Path) -> Launch | None:
        """The command for these engines, bound to 127.0.0.1:`port`."""


@dataclass(frozen=True)
class Direct:
    spec: str = "direct"
    kv_events: bool = False
    notes: str = "the client round-robins over the engines"

    def unavailable(self) -> str | None:
        return None

    def version(self) -> str | None:
        return None

    def launch(self, engines: Engines, port: int, aux_port: int, workdir: Path) -> Launch | None:
        return None

    @classmethod
    def build(cls, variant: str, settings: RouterSettings) -> Router:
        if variant:
            raise ValueError("direct has no variants")
        return cls()


@dataclass(frozen=True)
class Kvgate:
    spec: str
    variant: KvgateVariant
    extra: tuple[str, ...] = ()
    python: str = sys.executable
    notes: str = ""

    @property
    def kv_events(self) -> bool:
        return self.variant.kv_events

    def unavailable(self) -> str | None:
        return None

    def version(self) -> str | None:
        try:
            return package_version("kvgate")
        except PackageNotFoundError:
            return None

    def launch(self, engines: Engines, port: int, aux_port: int, workdir: Path) -> Launch | None:
        argv = [self.python, "-m", "gateway", "serve", "--host", HOST, "--port", str(port)]
        for url in engines.urls:
            argv += ["--backend", url]
        argv += self.variant.args
        if self.variant.kv_events:
            for url, endpoint in zip(engines.urls, engines.kv_events, strict=True):
                argv += ["--kv-events-endpoint", f"{url}={endpoint}"]
        return Launch(argv=(*argv, *self.extra), port=port, ready_path="/readyz")

    @classmethod
    def build(cls, variant: str, settings: RouterSettings) -> Router:
        chosen = settings.kvgate_variants.get(variant)
        if chosen is None:
            chosen = KvgateVariant(("--routing-profile", variant))
        spec = f"kvgate:{variant}" if variant else "kvgate"
        extra = settings.extra_args.get(spec, ())
        return cls(spec, chosen, extra, settings.python)


@dataclass(frozen=True)
class PeerRouter:
    peer: Peer
    policy: str
    root: Path
    extra: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        default = self.policy == self.peer.variants[0]
        return self.peer.name if default else f"{self.peer.name}:{self.policy}"

    @property
    def kv_events(self) -> bool:
        return False

    @property
    def notes(self) -> str:
        return self.peer.notes

    def unavailable(self) -> str | None:
        if peer_version(self.peer, self.root) is None:
            return (
                f"{self.peer.name} is not installed ({self.peer.executable(self.root)} "
                f"missing): run `kvgate-bench peers install {self.peer.name}` or `make peers`"
            )
        return None

    def version(self) -> str | None:
        return peer_version(self.peer, self.root)

    def launch(self, engines: Engines, port: int, aux_port: int, workdir: Path) -> Launch | None:
        context = LaunchContext(engines.urls, engines.model, port, aux_port, workdir, self.policy)
        launch = self.peer.launch(self.root, context)
        return Launch(
            argv=(*launch.argv, *self.extra),
            port=launch.port,
            files=launch.files,
            headers=launch.headers,
            ready_path=launch.ready_path,
            wait_for_workers=launch.wait_for_workers,
        )

    @classmethod
    def build(cls, peer: Peer, variant: str, settings: RouterSettings) -> Router:
        policy = variant or peer.variants[0]
        if policy not in peer.variants:
            raise ValueError(f"{peer.name}: unknown policy {policy!r}; known: {peer.variants}")
        router = cls(peer, policy, settings.peers_root)
        extra = settings.extra_args.get(router.spec, ())
        return cls(peer, policy, settings.peers_root, extra)


RouterFactory = Callable[[str, RouterSettings], Router]

ROUTERS: Mapping[str, RouterFactory] = MappingProxyType(
    {
        "direct": Direct.build,
        "kvgate": Kvgate.build,
        **{name: partial(PeerRouter.build, peer) for name, peer in PEERS.items()},
    }
)


def create(spec: str, settings: RouterSettings | None = None) -> Router:
    """The router for `name[:variant]`; ValueError for an unknown name or variant."""
    name, _, variant = spec.strip().partition(":")
    try:
        factory = ROUTERS[name]
    except KeyError:
        raise ValueError(f"unknown router {name!r}; known: {sorted(ROUTERS)}") from None
    return factory(variant, settings or RouterSettings())


def parse_variant(item: str) -> tuple[str, KvgateVariant]:
    """`NAME=ARGS` (shell words) → a kvgate variant; NAME may carry the `kvgate:` prefix."""
    name, sep, args = item.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"expected NAME=ARGS, got {item!r}")
    return name.strip().removeprefix("kvgate").lstrip(":"), KvgateVariant(tuple(shlex.split(args)))


def load_variants(path: Path) -> dict[str, KvgateVariant]:
    """A variant table from JSON or YAML: `{NAME: [args…]}` or `{NAME: {args, kv_events}}`."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of variant name to arguments")
    return {str(k).removeprefix("kvgate").lstrip(":"): _variant(k, v) for k, v in data.items()}


def _variant(name: object, value: object) -> KvgateVariant:
    if isinstance(value, list) and all(isinstance(arg, str) for arg in value):
        return KvgateVariant(tuple(value))
    if isinstance(value, dict):
        args = value.get("args", [])
        if isinstance(args, list) and all(isinstance(arg, str) for arg in args):
            return KvgateVariant(tuple(args), bool(value.get("kv_events", False)))
    raise ValueError(f"variant {name}: expected a list of arguments or {{args, kv_events}}")


# --- starting one ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What the load generator talks to, and the router process (None for `direct`)."""

    urls: tuple[str, ...]
    headers: Mapping[str, str]
    process: ManagedProcess | None

    def cpu_seconds(self) -> float | None:
        """CPU seconds of the router process and its descendants so far."""
        if self.process is None:
            return None
        pid = self.process.popen.pid
        return sum(_cpu_or_zero(p) for p in (pid, *descendants(pid)))


def start(
    router: Router, fleet: Fleet, engines: Engines, workdir: Path, timeout_s: float = 90.0
) -> Target:
    """Launch `router` in `fleet` (which stops it) and wait until a chat through it works.

    Raises `ProcessStartError` when it exits or is not ready within `timeout_s`."""
    workdir.mkdir(parents=True, exist_ok=True)
    launch = router.launch(engines, free_port(), free_port(), workdir)
    if launch is None:
        return Target(engines.urls, {}, None)
    for name, content in launch.files.items():
        (workdir / name).write_text(content)
    name = router.spec.replace(":", "-")
    process = fleet.spawn(name, launch.argv, launch.port)
    deadline = time.monotonic() + timeout_s
    if launch.ready_path is not None:
        process.wait_ready(launch.ready_path, timeout_s)
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        if launch.wait_for_workers:
            _poll(process, deadline, lambda: _workers_ready(client, launch.url, engines.urls))
        body = {
            "model": engines.model,
            "messages": [{"role": "user", "content": "ready?"}],
            "max_tokens": 1,
        }
        url = f"{launch.url}/v1/chat/completions"
        headers = dict(launch.headers)
        _poll(process, deadline, lambda: _chat_ok(client, url, body, headers))
    return Target((launch.url,), launch.headers, process)


def _poll(process: ManagedProcess, deadline: float, ready: Callable[[], bool]) -> None:
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise ProcessStartError(
                f"{process.name} exited with {process.popen.returncode}:\n{process.log_tail()}"
            )
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if ready():
                return
        time.sleep(0.1)
    raise ProcessStartError(f"{process.name} not ready in time:\n{process.log_tail()}")


def _chat_ok(
    client: httpx.Client, url: str, body: Mapping[str, object], headers: Mapping[str, str]
) -> bool:
    return client.post(url, json=body, headers=headers).status_code == 200


def _workers_ready(client: httpx.Client, base: str, engines: Sequence[str]) -> bool:
    """`GET /workers` lists every engine (healthy, where the router says)."""
    response = client.get(f"{base}/workers")
    if response.status_code != 200:
        return False
    workers = response.json().get("workers", [])
    healthy = {
        str(w.get("url", "")).rstrip("/")
        for w in workers
        if isinstance(w, dict) and w.get("is_healthy", True)
    }
    return all(url.rstrip("/") in healthy for url in engines)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (from /proc; Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return 0.0


def describe() -> str:
    """One line per router name with its variants, for `--help`."""
    lines = ["direct", "kvgate[:NAME]  (a variant from the table, else --routing-profile NAME)"]
    lines += [f"{name}[:{'|'.join(peer.variants)}]" for name, peer in PEERS.items()]
    return "\n".join(lines)

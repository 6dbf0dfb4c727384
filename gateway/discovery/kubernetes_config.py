"""What Kubernetes discovery watches and how: pools, cluster access, timing.

A pool is the EndpointSlices of one Service (`--k8s-service NAME[:PORT]`) or of every
Service whose labels match a selector (`--k8s-label-selector SELECTOR`; the EndpointSlice
controller copies a Service's labels onto its slices). `PORT` is a Service port name or a
number; see `PortNames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.discovery.kubernetes_slices import SERVICE_NAME_LABEL, PortNames


class DiscoveryConfigError(ValueError):
    """A pool or access setting is malformed."""


@dataclass(frozen=True, slots=True)
class PoolSource:
    """One set of EndpointSlices to watch. Exactly one of `service` and `label_selector`."""

    namespace: str
    service: str | None = None
    label_selector: str | None = None
    ports: PortNames = field(default_factory=PortNames)
    pool: str | None = None
    """A short name for logs, metrics and the `pool` label; defaults to the service name or
    the selector."""

    def __post_init__(self) -> None:
        if (self.service is None) == (self.label_selector is None):
            raise DiscoveryConfigError("a pool needs exactly one of a service or a label selector")
        if not self.namespace:
            raise DiscoveryConfigError("a pool needs a namespace")

    @property
    def selector(self) -> str:
        """The label selector sent to the API server."""
        if self.service is not None:
            return f"{SERVICE_NAME_LABEL}={self.service}"
        assert self.label_selector is not None
        return self.label_selector

    @property
    def name(self) -> str:
        return self.pool or self.service or self.selector


@dataclass(frozen=True, slots=True)
class ClusterAccess:
    """How to reach the API server.

    `in_cluster=None` picks the pod's service account when `KUBERNETES_SERVICE_HOST` is set,
    else the kubeconfig (`kubeconfig`, `$KUBECONFIG` or `~/.kube/config`).
    """

    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool | None = None


@dataclass(frozen=True, slots=True)
class WatchTiming:
    """Seconds. Every API call is bounded: lists by `list_timeout_s`; a watch request by
    `watch_timeout_s` on the server side (jittered up to 2x, so replicas do not reconnect
    together) and by `idle_timeout_s` of silence on the client side, which catches a
    connection that died without a FIN (a bookmark or an event resets it)."""

    connect_timeout_s: float = 5.0
    list_timeout_s: float = 15.0
    watch_timeout_s: int = 240
    idle_timeout_s: float = 90.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    stale_after_s: float = 180.0
    """Discovery reports unhealthy when a pool has had no answer from the API server for
    this long (its last known endpoints keep routing regardless)."""
    page_size: int = 500

    def __post_init__(self) -> None:
        seconds = (
            self.connect_timeout_s,
            self.list_timeout_s,
            self.watch_timeout_s,
            self.idle_timeout_s,
            self.backoff_initial_s,
            self.backoff_max_s,
            self.stale_after_s,
        )
        if min(seconds) <= 0 or self.page_size <= 0:
            raise DiscoveryConfigError("discovery timings and the page size must be positive")


@dataclass(frozen=True, slots=True)
class KubernetesDiscoveryConfig:
    sources: tuple[PoolSource, ...]
    access: ClusterAccess = field(default_factory=ClusterAccess)
    timing: WatchTiming = field(default_factory=WatchTiming)

    def __post_init__(self) -> None:
        if not self.sources:
            raise DiscoveryConfigError("Kubernetes discovery needs at least one pool")
        names = [source.name for source in self.sources]
        if len(set(names)) != len(names):
            raise DiscoveryConfigError(f"pool names must be unique: {names}")


def parse_service_flag(
    value: str, *, namespace: str, default_port: str | None = None
) -> PoolSource:
    """`[NAMESPACE/]NAME[:PORT]` → a pool of that Service's slices; `default_port` applies
    when the value names no port."""
    target, _, port = value.partition(":")
    ns, slash, name = target.rpartition("/")
    if not name or (slash and not ns) or (_ and not port):
        raise DiscoveryConfigError(f"expected [NAMESPACE/]NAME[:PORT], got {value!r}")
    return PoolSource(
        namespace=ns or namespace, service=name, ports=PortNames(http=port or default_port)
    )


def parse_selector_flag(value: str, *, namespace: str, port: str | None = None) -> PoolSource:
    """A label selector (`app=vllm,tier=online`) → a pool of every matching Service's slices."""
    selector = value.strip()
    if not selector:
        raise DiscoveryConfigError("empty label selector")
    return PoolSource(namespace=namespace, label_selector=selector, ports=PortNames(http=port))


def config_from_settings(
    *,
    services: Sequence[str],
    namespace: str,
    label_selector: str | None = None,
    port: str | None = None,
    kubeconfig: Path | None = None,
    context: str | None = None,
    timing: WatchTiming | None = None,
) -> KubernetesDiscoveryConfig:
    """The discovery configuration for `--k8s-service` (repeatable), `--k8s-namespace`,
    `--k8s-label-selector`, `--k8s-port` (the HTTP port of the selector's pool and of
    services given without one), `--kubeconfig` and `--kube-context`.

    Raises `DiscoveryConfigError` when no pool is given or a flag is malformed.
    """
    sources = [
        parse_service_flag(service, namespace=namespace, default_port=port) for service in services
    ]
    if label_selector:
        sources.append(parse_selector_flag(label_selector, namespace=namespace, port=port))
    return KubernetesDiscoveryConfig(
        sources=tuple(sources),
        access=ClusterAccess(kubeconfig=kubeconfig, context=context),
        timing=timing or WatchTiming(),
    )

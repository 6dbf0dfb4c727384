"""How EndpointSlices (`discovery.k8s.io/v1`) become engines and their routing state.

Pure functions over the raw JSON objects the API server sends; no I/O. The condition rules
follow the API's documented defaults: a nil `ready` or `serving` means true, a nil
`terminating` means false. `serving` (the pod's Ready condition) wins over `ready`, because a
Service with `publishNotReadyAddresses` reports every pod as ready, even failing ones.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.discovery.endpoint import Endpoint
from gateway.types import EndpointId

JsonObject = Mapping[str, object]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class SliceFormatError(ValueError):
    """An object is not an EndpointSlice the gateway can read."""


class EndpointState(enum.Enum):
    """What routing may do with an engine."""

    SERVING = "serving"
    """Ready: gets new requests."""
    TERMINATING = "terminating"
    """Shutting down: no new requests; requests already running there finish."""
    NOT_READY = "not_ready"
    """Failing its readiness probe: no requests."""


# When the same engine shows up in several slices (possible while the controller moves it),
# the most usable report wins.
_PREFERENCE = {EndpointState.SERVING: 2, EndpointState.TERMINATING: 1, EndpointState.NOT_READY: 0}


@dataclass(frozen=True, slots=True)
class PortNames:
    """Which slice ports are the engine's HTTP API, metrics and KV-event publisher.

    A name (the Service port's name) or a decimal port number. `http=None` means the slice's
    only port, or else the port named `http`. Metrics default to the HTTP port when no port
    of that name exists (vLLM serves `/metrics` on its API port).
    """

    http: str | None = None
    metrics: str = "metrics"
    kv_events: str = "kv-events"


@dataclass(frozen=True, slots=True)
class SlicePort:
    name: str
    port: int
    protocol: str


@dataclass(frozen=True, slots=True)
class SliceEndpoint:
    address: str
    ready: bool | None
    serving: bool | None
    terminating: bool | None
    pod: str | None = None
    node: str | None = None
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class SliceView:
    """The parts of one EndpointSlice that discovery reads."""

    name: str
    namespace: str
    resource_version: str
    address_type: str
    ports: tuple[SlicePort, ...]
    endpoints: tuple[SliceEndpoint, ...]


@dataclass(frozen=True, slots=True)
class DiscoveredEndpoint:
    """One engine as Kubernetes reports it.

    `endpoint.labels` carries `pool`, `namespace`, `pod`, `node`, `zone` (when known) and
    `metrics_url`; `endpoint.kv_events` is `tcp://host:port` when the slice has that port.
    """

    endpoint: Endpoint
    state: EndpointState

    @property
    def id(self) -> EndpointId:
        return self.endpoint.id


def endpoint_state(
    *, ready: bool | None, serving: bool | None, terminating: bool | None
) -> EndpointState:
    if terminating:
        return EndpointState.TERMINATING
    able = serving if serving is not None else ready is not False
    return EndpointState.SERVING if able else EndpointState.NOT_READY


def parse_slice(raw: JsonObject) -> SliceView:
    """Raises `SliceFormatError` when required fields are missing or mistyped."""
    metadata = _object(raw.get("metadata"), "metadata")
    ports = tuple(_port(item) for item in _items(raw.get("ports")))
    return SliceView(
        name=_text(metadata.get("name"), "metadata.name"),
        namespace=_optional_text(metadata.get("namespace")) or "",
        resource_version=_optional_text(metadata.get("resourceVersion")) or "",
        address_type=_text(raw.get("addressType"), "addressType"),
        ports=ports,
        endpoints=tuple(_endpoint(item) for item in _items(raw.get("endpoints"))),
    )


def resource_version_of(raw: JsonObject) -> str | None:
    """`metadata.resourceVersion` of any object (bookmarks carry nothing else)."""
    metadata = raw.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    return _optional_text(metadata.get("resourceVersion"))


def discovered_endpoints(
    slices: Iterable[SliceView], ports: PortNames, pool: str
) -> dict[EndpointId, DiscoveredEndpoint]:
    """Every engine of a pool's slices, one per id, in slice order."""
    found: dict[EndpointId, DiscoveredEndpoint] = {}
    for view in slices:
        for discovered in _slice_endpoints(view, ports, pool):
            merge_into(found, discovered)
    return found


def merge_into(found: dict[EndpointId, DiscoveredEndpoint], discovered: DiscoveredEndpoint) -> None:
    """Add `discovered` unless an entry with the same id and a better state is there."""
    known = found.get(discovered.id)
    if known is None or _PREFERENCE[discovered.state] > _PREFERENCE[known.state]:
        found[discovered.id] = discovered


def resolve_port(ports: Iterable[SlicePort], wanted: str | None) -> int | None:
    tcp = [port for port in ports if port.protocol == "TCP" and port.port > 0]
    if wanted is None:
        if len(tcp) == 1:
            return tcp[0].port
        wanted = "http"
    if wanted.isdigit():
        number = int(wanted)
        return number if any(port.port == number for port in tcp) else None
    return next((port.port for port in tcp if port.name == wanted), None)


def host_port(address: str, port: int) -> str:
    """`10.0.0.5:8000`, or `[fd00::5]:8000` for an IPv6 address."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _slice_endpoints(view: SliceView, ports: PortNames, pool: str) -> list[DiscoveredEndpoint]:
    http = resolve_port(view.ports, ports.http)
    if http is None:
        return []
    metrics = resolve_port(view.ports, ports.metrics) or http
    kv_events = resolve_port(view.ports, ports.kv_events)
    result = []
    for item in view.endpoints:
        netloc = host_port(item.address, http)
        labels = {
            "pool": pool,
            "namespace": view.namespace,
            "metrics_url": f"http://{host_port(item.address, metrics)}",
        }
        for key, value in (("pod", item.pod), ("node", item.node), ("zone", item.zone)):
            if value:
                labels[key] = value
        state = endpoint_state(ready=item.ready, serving=item.serving, terminating=item.terminating)
        publisher = None if kv_events is None else f"tcp://{host_port(item.address, kv_events)}"
        endpoint = Endpoint(netloc, f"http://{netloc}", labels, kv_events=publisher)
        result.append(DiscoveredEndpoint(endpoint, state))
    return result


def _endpoint(raw: object) -> SliceEndpoint:
    item = _object(raw, "endpoints[]")
    addresses = _items(item.get("addresses"))
    if not addresses or not isinstance(addresses[0], str):
        raise SliceFormatError("an endpoint without addresses")
    conditions = item.get("conditions")
    conditions = conditions if isinstance(conditions, Mapping) else {}
    target = item.get("targetRef")
    pod = (
        target.get("name") if isinstance(target, Mapping) and target.get("kind") == "Pod" else None
    )
    return SliceEndpoint(
        address=addresses[0],
        ready=_flag(conditions.get("ready")),
        serving=_flag(conditions.get("serving")),
        terminating=_flag(conditions.get("terminating")),
        pod=pod if isinstance(pod, str) else None,
        node=_optional_text(item.get("nodeName")),
        zone=_optional_text(item.get("zone")),
    )


def _port(raw: object) -> SlicePort:
    item = _object(raw, "ports[]")
    number = item.get("port")
    if not isinstance(number, int) or isinstance(number, bool):
        # A nil port is legal for slices not made for a Service; it cannot be routed to.
        number = 0
    return SlicePort(
        name=_optional_text(item.get("name")) or "",
        port=number,
        protocol=_optional_text(item.get("protocol")) or "TCP",
    )


def _object(value: object, where: str) -> JsonObject:
    if not isinstance(value, Mapping):
        raise SliceFormatError(f"{where} is not an object")
    return value


def _items(value: object) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SliceFormatError("expected a list")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SliceFormatError(f"{where} is missing")
    return value


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None

"""The long-lived objects of one gateway process, built by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

from gateway.discovery.datastore import EndpointDatastore
from gateway.discovery.kubernetes import KubernetesDiscovery
from gateway.observability.metrics import GatewayMetrics
from gateway.routing.director import Director
from gateway.settings import GatewaySettings

STATE_KEY = "kvgate"


class Readiness:
    """Whether the process should receive new traffic.

    Flipped by the server's signal handler on SIGTERM (a plain attribute write, safe from a
    signal handler) and read by `/readyz`.
    """

    def __init__(self) -> None:
        self.draining = False

    def start_draining(self) -> None:
        self.draining = True


@dataclass(frozen=True, slots=True)
class GatewayState:
    settings: GatewaySettings
    readiness: Readiness
    datastore: EndpointDatastore
    director: Director
    metrics: GatewayMetrics
    discovery: KubernetesDiscovery | None = None
    """Kubernetes discovery when it runs; None with a static engine list."""

    def is_ready(self) -> bool:
        """Not draining, at least one engine ready and, with Kubernetes discovery, every
        pool listed once. Synced, not healthy: during an API server outage the last known
        engines keep routing, so the gateway stays ready."""
        if self.readiness.draining or self.datastore.snapshot().ready_count() == 0:
            return False
        return self.discovery is None or self.discovery.synced()


def gateway_state(scope: Scope) -> GatewayState:
    """The state the lifespan put into every request's scope."""
    state = scope["state"][STATE_KEY]
    assert isinstance(state, GatewayState), "the lifespan did not run"
    return state

"""Liveness, readiness and Prometheus metrics. No authentication: probes and scrapers call them."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.state import gateway_state


async def healthz(request: Request) -> Response:
    """200 while the process serves HTTP at all."""
    return Response(b'{"status":"ok"}', media_type="application/json")


async def readyz(request: Request) -> Response:
    """200 when at least one engine is ready, the process is not draining and discovery
    has listed every pool once; else 503. The body says why."""
    state = gateway_state(request.scope)
    ready = state.is_ready()
    body: dict[str, object] = {
        "ready": ready,
        "draining": state.readiness.draining,
        "ready_engines": state.datastore.snapshot().ready_count(),
        "draining_engines": len(state.datastore.draining()),
    }
    if state.discovery is not None:
        body["discovery"] = state.discovery.health().as_dict()
    return Response(orjson.dumps(body), 200 if ready else 503, media_type="application/json")


async def metrics(request: Request) -> Response:
    state = gateway_state(request.scope)
    return Response(state.metrics.render(), media_type=state.metrics.content_type)

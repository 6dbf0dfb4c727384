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
    """200 when at least one engine is ready and the process is not draining; else 503."""
    state = gateway_state(request.scope)
    ready = state.is_ready()
    body = {
        "ready": ready,
        "draining": state.readiness.draining,
        "ready_engines": state.datastore.snapshot().ready_count(),
    }
    return Response(orjson.dumps(body), 200 if ready else 503, media_type="application/json")


async def metrics(request: Request) -> Response:
    state = gateway_state(request.scope)
    return Response(state.metrics.render(), media_type=state.metrics.content_type)

"""Run the gateway app in-process over fake engines (no sockets anywhere)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.state import STATE_KEY, GatewayState, Readiness
from tests.gateway.fake_engine import EngineFleet, FakeEngine


@contextlib.asynccontextmanager
async def running_gateway(
    engines: EngineFleet, readiness: Readiness | None = None, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, GatewayState]]:
    """The gateway app with its lifespan running, engines behind a MockTransport, and a
    client talking to it through `httpx.ASGITransport` (which runs no lifespan itself)."""
    settings.setdefault("backends", engines.urls)
    settings.setdefault("refresh_interval", 3600.0)
    app = create_app(GatewaySettings(**settings), readiness, transport=engines.transport())
    async with app.fastapi.router.lifespan_context(app.fastapi) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            scope["state"] = dict(state)  # what uvicorn does for every request
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client, state[STATE_KEY]


def two_engines() -> EngineFleet:
    return EngineFleet([FakeEngine("http://127.0.0.1:18001"), FakeEngine("http://127.0.0.1:18002")])

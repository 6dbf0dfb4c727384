"""The ASGI application: routes, OpenAI-shaped errors for the framework's own rejections."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import httpx
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gateway.api import admin_routes
from gateway.api.openai_routes import ProxyRoute, list_models
from gateway.errors import GatewayError, InvalidRequestError
from gateway.lifespan import build_lifespan
from gateway.settings import GatewaySettings
from gateway.state import Readiness
from gateway.types import RequestKind


class GatewayApp:
    """The ASGI entry point.

    A proxied OpenAI call goes straight to its route: each framework layer would otherwise
    cost time once per request and again per streamed chunk (every middleware wraps `send`).
    Everything else, lifespan included, goes to the FastAPI app, which also holds the proxy
    routes so that a wrong method gets its 405.
    """

    def __init__(self, fastapi: FastAPI, routes: Mapping[str, ProxyRoute]) -> None:
        self.fastapi = fastapi
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = self._routes.get(scope["path"])
            if route is not None:
                await route(scope, receive, send)
                return
        await self.fastapi(scope, receive, send)


def create_app(
    settings: GatewaySettings,
    readiness: Readiness | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> GatewayApp:
    """Nothing is built here but routes; the lifespan builds the rest when the server starts."""
    app = FastAPI(
        title="kvgate",
        lifespan=build_lifespan(settings, readiness or Readiness(), transport=transport),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    routes = {kind.path: ProxyRoute(kind) for kind in RequestKind}
    for path, route in routes.items():
        app.router.routes.append(Route(path, route, methods=["POST"]))
    app.add_api_route("/v1/models", list_models, methods=["GET"])
    app.add_api_route("/healthz", admin_routes.healthz, methods=["GET"])
    app.add_api_route("/readyz", admin_routes.readyz, methods=["GET"])
    app.add_api_route("/metrics", admin_routes.metrics, methods=["GET"])
    app.add_exception_handler(HTTPException, _http_error)
    return GatewayApp(app, MappingProxyType(routes))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods, answered in OpenAI's error shape."""
    status, detail = (exc.status_code, exc.detail) if isinstance(exc, HTTPException) else (500, "")
    error: GatewayError = InvalidRequestError(f"{detail}: {request.method} {request.url.path}")
    return Response(error.to_json(), status_code=status, media_type="application/json")

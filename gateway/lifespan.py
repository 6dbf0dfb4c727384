"""Build every long-lived object at startup, own the background work, tear down in order.

Shutdown order (LIFO): background tasks are cancelled and awaited, then the HTTP clients
close. By then uvicorn has already stopped accepting and drained or cancelled requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager

import httpx
from starlette.types import ASGIApp

from gateway.auth.api_keys import ApiKeyAuthenticator, OpenAccess, read_key_file
from gateway.auth.interfaces import Authenticator
from gateway.discovery.datastore import EndpointDatastore
from gateway.discovery.model_refresh import ModelRefresher
from gateway.discovery.static import StaticDiscovery, static_endpoints
from gateway.governance.passthrough import DiscardAudit
from gateway.observability.metrics import GatewayMetrics
from gateway.openai.prompt import SkipTokenize
from gateway.proxy.client import TRANSPORTS, PoolLimits, UpstreamClient, UpstreamTimeouts
from gateway.proxy.httpx_upstream import HttpxTransport
from gateway.proxy.interfaces import UpstreamTransport
from gateway.proxy.retry import RetryPolicy
from gateway.routing.classify import SingleClass
from gateway.routing.director import Director, Stages
from gateway.routing.pickers import build_picker
from gateway.routing.scheduler import Scheduler
from gateway.safety.passthrough import AllowAllInput, IgnoreOutput
from gateway.settings import GatewaySettings
from gateway.state import STATE_KEY, GatewayState, Readiness

logger = logging.getLogger(__name__)

Lifespan = Callable[[ASGIApp], AbstractAsyncContextManager[dict[str, GatewayState]]]


class BackgroundWork:
    """Named tasks that live as long as the app; `close` cancels and awaits them all."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, name: str, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work, name=f"kvgate-{name}")
        task.add_done_callback(self._finished)
        self._tasks.add(task)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s died", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def build_authenticator(settings: GatewaySettings) -> Authenticator:
    if settings.api_key_file is None:
        return OpenAccess()
    return ApiKeyAuthenticator(read_key_file(settings.api_key_file))


def build_stages(settings: GatewaySettings) -> Stages:
    return Stages(
        auth=build_authenticator(settings),
        input_guard=AllowAllInput(),
        prompts=SkipTokenize(),
        classifier=SingleClass(),
        scheduler=Scheduler(build_picker(settings.picker)),
        output_guard=IgnoreOutput(),
        audit=DiscardAudit(),
    )


def _upstream_authorization(settings: GatewaySettings) -> bytes | None:
    key = settings.upstream_api_key
    return None if key is None else b"Bearer " + key.get_secret_value().encode()


def build_transport(
    settings: GatewaySettings,
    timeouts: UpstreamTimeouts,
    mock: httpx.AsyncBaseTransport | None,
) -> UpstreamTransport:
    limits = PoolLimits(settings.upstream_max_connections, settings.upstream_keepalive_expiry)
    if mock is not None:
        return HttpxTransport(
            connect_timeout=timeouts.connect,
            max_connections=limits.max_connections,
            keepalive_expiry=limits.keepalive_expiry,
            transport=mock,
        )
    return TRANSPORTS[settings.upstream_client](timeouts, limits)


def build_lifespan(
    settings: GatewaySettings,
    readiness: Readiness,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Lifespan:
    """`transport` replaces the network for every engine call (the test seam); it implies
    the httpx upstream client."""

    @contextlib.asynccontextmanager
    async def lifespan(app: ASGIApp) -> AsyncIterator[dict[str, GatewayState]]:
        metrics = GatewayMetrics()
        datastore = EndpointDatastore(metrics)
        timeouts = UpstreamTimeouts(
            connect=settings.connect_timeout,
            first_byte=settings.first_byte_timeout,
            idle=settings.idle_timeout,
            total=settings.total_timeout,
        )
        async with contextlib.AsyncExitStack() as stack:
            upstream = UpstreamClient(build_transport(settings, timeouts, transport), timeouts)
            stack.push_async_callback(upstream.aclose)
            # Health checks get their own small pool, so a saturated data plane cannot make
            # healthy engines look dead.
            control_plane = httpx.AsyncClient(
                timeout=settings.refresh_timeout, transport=transport, trust_env=False
            )
            stack.push_async_callback(control_plane.aclose)
            director = Director(
                build_stages(settings),
                datastore,
                upstream,
                RetryPolicy(settings.retry_attempts),
                metrics,
                upstream_authorization=_upstream_authorization(settings),
            )
            await StaticDiscovery(static_endpoints(settings.backends, settings.backends_file)).run(
                datastore
            )
            refresher = ModelRefresher(
                datastore,
                control_plane,
                interval_s=settings.refresh_interval,
                timeout_s=settings.refresh_timeout,
            )
            await refresher.refresh_all()
            background = BackgroundWork()
            stack.push_async_callback(background.close)
            background.start("model-refresh", refresher.run())
            state = GatewayState(settings, readiness, datastore, director, metrics)
            logger.info(
                "gateway up: %d engines, %d ready",
                len(datastore.endpoints()),
                datastore.snapshot().ready_count(),
            )
            yield {STATE_KEY: state}
            logger.info("gateway shutting down")

    return lifespan

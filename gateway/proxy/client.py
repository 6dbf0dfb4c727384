"""The one shared upstream client: a transport plus the first-byte and total deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.discovery.endpoint import Endpoint
from gateway.errors import UpstreamTimeoutError
from gateway.proxy.aiohttp_upstream import AiohttpTransport
from gateway.proxy.httpx_upstream import HttpxTransport
from gateway.proxy.interfaces import UpstreamResponse, UpstreamTransport
from gateway.routing.request import InferenceRequest
from gateway.types import RawHeaders


@dataclass(frozen=True, slots=True)
class UpstreamTimeouts:
    """Seconds. `first_byte` runs until the response head; `idle` between body chunks."""

    connect: float
    first_byte: float
    idle: float
    total: float


@dataclass(frozen=True, slots=True)
class PoolLimits:
    max_connections: int
    keepalive_expiry: float


TransportFactory = Callable[[UpstreamTimeouts, PoolLimits], UpstreamTransport]

TRANSPORTS: Mapping[str, TransportFactory] = MappingProxyType(
    {
        "aiohttp": lambda t, p: AiohttpTransport(
            connect_timeout=t.connect,
            max_connections=p.max_connections,
            keepalive_expiry=p.keepalive_expiry,
        ),
        "httpx": lambda t, p: HttpxTransport(
            connect_timeout=t.connect,
            max_connections=p.max_connections,
            keepalive_expiry=p.keepalive_expiry,
        ),
    }
)


class UpstreamClient:
    def __init__(self, transport: UpstreamTransport, timeouts: UpstreamTimeouts) -> None:
        self._transport = transport
        self.timeouts = timeouts

    async def open(
        self,
        endpoint: Endpoint,
        request: InferenceRequest,
        headers: RawHeaders,
        *,
        deadline: float,
    ) -> UpstreamResponse:
        """Send the request and wait for the response head (status and headers).

        `deadline` is the request's total deadline in event-loop time. The caller owns the
        returned response and must `aclose()` it. Raises an `UpstreamError` subclass.
        """
        first_byte_at = asyncio.get_running_loop().time() + self.timeouts.first_byte
        url = endpoint.url + request.kind.path
        try:
            async with asyncio.timeout_at(min(first_byte_at, deadline)):
                return await self._transport.post(url, request.body, headers)
        except TimeoutError as exc:
            raise UpstreamTimeoutError("The engine did not answer in time.") from exc

    async def aclose(self) -> None:
        await self._transport.aclose()

"""The httpx upstream transport: the alternative to aiohttp, and the test seam
(`httpx.MockTransport` stands in for the network)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from gateway.errors import UpstreamDisconnectedError, UpstreamError, UpstreamUnreachableError
from gateway.proxy.interfaces import UpstreamResponse, UpstreamTransport
from gateway.types import RawHeaders


class HttpxResponse(UpstreamResponse):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def raw_headers(self) -> Sequence[tuple[bytes, bytes]]:
        return self._response.headers.raw

    @property
    def content_type(self) -> str | None:
        value: str | None = self._response.headers.get("content-type")
        return value

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TransportError as exc:
            raise UpstreamDisconnectedError("The engine broke off the response.") from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxTransport(UpstreamTransport):
    def __init__(
        self,
        *,
        connect_timeout: float,
        max_connections: int,
        keepalive_expiry: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            # Reads are unbounded here: the proxy enforces first-byte, idle and total deadlines.
            timeout=httpx.Timeout(connect=connect_timeout, read=None, write=None, pool=None),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=keepalive_expiry,
            ),
            # Engines' cookies must never travel from one client's request to another's.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            transport=transport,
            trust_env=False,
            follow_redirects=False,
        )

    async def post(self, url: str, body: bytes, headers: RawHeaders) -> UpstreamResponse:
        request = self._client.build_request("POST", url, content=body, headers=headers)
        try:
            return HttpxResponse(await self._client.send(request, stream=True))
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise UpstreamUnreachableError("The engine is unreachable.") from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise UpstreamDisconnectedError(
                "The engine closed the connection before answering."
            ) from exc
        except httpx.TransportError as exc:
            raise UpstreamError("The engine failed.") from exc

    async def aclose(self) -> None:
        await self._client.aclose()

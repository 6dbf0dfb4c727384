"""The one module that talks to `kubernetes_asyncio`: cluster access, list and watch.

The library is generated code without type annotations; this seam gives the rest of
discovery typed calls, raw JSON objects (parsed by `kubernetes_slices`, not by the
library's model classes) and one exception tree:

    KubernetesApiError
    ├── ResourceExpired   410 Gone: the resourceVersion or continue token is too old; relist
    ├── ApiRejected       400/401/403/404: configuration or RBAC; retrying may not help
    ├── ApiUnavailable    connection refused or dropped, timeouts, 429 and 5xx; retry
    └── ApiProtocolError  an answer that is not the Kubernetes API's; retry
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import aiohttp
import orjson
from kubernetes_asyncio.client import ApiClient, Configuration, DiscoveryV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import ConfigException, load_kube_config
from kubernetes_asyncio.config.incluster_config import InClusterConfigLoader
from kubernetes_asyncio.watch import Watch

from gateway import __version__
from gateway.discovery.kubernetes_config import ClusterAccess, WatchTiming
from gateway.discovery.kubernetes_slices import JsonObject, resource_version_of

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_REJECTED = frozenset({400, 401, 403, 404, 422})


class KubernetesApiError(Exception):
    """A list or watch call failed; `kind` is a bounded metric label."""

    kind = "error"


class ResourceExpired(KubernetesApiError):
    kind = "expired"


class ApiRejected(KubernetesApiError):
    kind = "rejected"


class ApiUnavailable(KubernetesApiError):
    kind = "unavailable"


class ApiProtocolError(KubernetesApiError):
    kind = "protocol"


class ClusterAccessError(RuntimeError):
    """Neither a service account nor a kubeconfig could be loaded."""


@dataclass(frozen=True, slots=True)
class ObjectList:
    """A complete (all pages) list and the resourceVersion to watch from."""

    resource_version: str
    items: tuple[JsonObject, ...]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """`type` is ADDED, MODIFIED, DELETED or BOOKMARK; `object` is the raw object."""

    type: str
    object: JsonObject
    resource_version: str | None


class EventStream(Protocol):
    async def next(self) -> WatchEvent | None:
        """The next event; None when the server ended the watch normally (its timeout)."""
        ...


class SliceApi(Protocol):
    """List and watch EndpointSlices of one namespace, filtered by a label selector."""

    async def list(self, namespace: str, selector: str) -> ObjectList: ...

    def watch(
        self, namespace: str, selector: str, resource_version: str, timeout_s: int
    ) -> contextlib.AbstractAsyncContextManager[EventStream]: ...


async def load_configuration(
    access: ClusterAccess,
    *,
    environ: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> Configuration:
    """A client configuration from the pod's service account or a kubeconfig.

    The service-account token is re-read from its file before it expires (bound tokens
    rotate). Raises `ClusterAccessError`.
    """
    env = os.environ if environ is None else environ
    in_cluster = access.in_cluster
    if in_cluster is None:
        in_cluster = access.kubeconfig is None and bool(env.get("KUBERNETES_SERVICE_HOST"))
    configuration = Configuration()
    try:
        if in_cluster:
            InClusterConfigLoader(
                token_filename=str(service_account_dir / "token"),
                cert_filename=str(service_account_dir / "ca.crt"),
                environ=dict(env),
            ).load_and_set(configuration)
        else:
            await load_kube_config(
                config_file=str(access.kubeconfig) if access.kubeconfig else None,
                context=access.context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError, ValueError) as exc:
        where = "the service account" if in_cluster else "the kubeconfig"
        raise ClusterAccessError(f"cannot load {where}: {exc}") from exc
    return configuration


@contextlib.asynccontextmanager
async def cluster_api(configuration: Configuration, timing: WatchTiming) -> AsyncIterator[SliceApi]:
    """An EndpointSlice API over one connection pool, closed on exit."""
    client = ApiClient(configuration)
    client.user_agent = f"kvgate/{__version__}"
    try:
        yield KubernetesSliceApi(DiscoveryV1Api(client), timing)
    finally:
        await client.close()


class KubernetesSliceApi(SliceApi):
    def __init__(self, api: DiscoveryV1Api, timing: WatchTiming) -> None:
        self._api = api
        self._timing = timing

    async def list(self, namespace: str, selector: str) -> ObjectList:
        """Every page of the list, at one consistent resourceVersion."""
        items: list[JsonObject] = []
        token: str | None = None
        while True:
            page = await self._page(namespace, selector, token)
            items.extend(_list_items(page))
            metadata = page.get("metadata")
            metadata = metadata if isinstance(metadata, Mapping) else {}
            token = metadata.get("continue") or None
            if not isinstance(token, str | None):
                raise ApiProtocolError("a list with a non-string continue token")
            if token is None:
                version = resource_version_of(page)
                if not version:
                    raise ApiProtocolError("a list without metadata.resourceVersion")
                return ObjectList(version, tuple(items))

    async def _page(self, namespace: str, selector: str, token: str | None) -> JsonObject:
        timeout = aiohttp.ClientTimeout(
            total=self._timing.list_timeout_s, sock_connect=self._timing.connect_timeout_s
        )
        call = self._api.list_namespaced_endpoint_slice
        try:
            async with asyncio.timeout(self._timing.list_timeout_s):
                if token is None:
                    pending = call(
                        namespace,
                        label_selector=selector,
                        limit=self._timing.page_size,
                        _preload_content=False,
                        _request_timeout=timeout,
                    )
                else:
                    pending = call(
                        namespace,
                        label_selector=selector,
                        limit=self._timing.page_size,
                        _continue=token,
                        _preload_content=False,
                        _request_timeout=timeout,
                    )
                # Without preloading, the library returns the aiohttp response unread.
                response = cast(aiohttp.ClientResponse, await pending)
                try:
                    status, body = response.status, await response.read()
                finally:
                    response.release()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiUnavailable(f"list failed: {exc!r}") from exc
        if status != 200:
            raise status_error(status, body)
        return _json_object(body)

    def watch(
        self, namespace: str, selector: str, resource_version: str, timeout_s: int
    ) -> contextlib.AbstractAsyncContextManager[EventStream]:
        return _SliceWatch(
            self._api, self._timing, namespace, selector, resource_version, timeout_s
        )


class _SliceWatch(EventStream):
    """One watch request, from `resource_version`, with bookmarks; closed on exit."""

    def __init__(
        self,
        api: DiscoveryV1Api,
        timing: WatchTiming,
        namespace: str,
        selector: str,
        resource_version: str,
        timeout_s: int,
    ) -> None:
        self._api = api
        self._timing = timing
        self._request = (namespace, selector, resource_version, timeout_s)
        # The outer guard: the socket read timeout covers the stream, this covers the rest.
        self._deadline_s = timing.connect_timeout_s + timing.idle_timeout_s + 1.0

    async def __aenter__(self) -> EventStream:
        namespace, selector, resource_version, timeout_s = self._request
        # The library decodes event objects into a model class named by this string;
        # "object" keeps them plain dicts (they are parsed by kubernetes_slices).
        self._watch = Watch(return_type="object")
        self._events = self._watch.stream(
            self._api.list_namespaced_endpoint_slice,
            namespace,
            label_selector=selector,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_s,
            _request_timeout=aiohttp.ClientTimeout(
                sock_connect=self._timing.connect_timeout_s,
                sock_read=self._timing.idle_timeout_s,
            ),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._watch.close()

    async def next(self) -> WatchEvent | None:
        try:
            async with asyncio.timeout(self._deadline_s):
                raw: object = await self._events.__anext__()
        except StopAsyncIteration:
            return None
        except ApiException as exc:
            raise _api_exception_error(exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiUnavailable(f"watch failed: {exc!r}") from exc
        except Exception as exc:
            # The library raises a bare Exception for a JSON line without type or object.
            raise ApiProtocolError(f"malformed watch event: {exc}") from exc
        return self._event(raw)

    def _event(self, raw: object) -> WatchEvent:
        if not isinstance(raw, Mapping):
            # The library yields undecodable lines as they are: an error page, not the API.
            status = getattr(self._watch.resp, "status", 200)
            if status != 200:
                raise status_error(status, str(raw).encode())
            raise ApiProtocolError(f"a watch line that is not JSON: {str(raw)[:200]!r}")
        kind, obj = raw.get("type"), raw.get("raw_object")
        if not isinstance(kind, str) or not isinstance(obj, Mapping):
            raise ApiProtocolError("a watch event without type or object")
        return WatchEvent(kind, obj, resource_version_of(obj))


def status_error(status: int, body: bytes) -> KubernetesApiError:
    """The exception for an HTTP error status (the body is a `Status` object, usually)."""
    message = f"HTTP {status}: {body[:300].decode('utf-8', errors='replace')}"
    if status == 410:
        return ResourceExpired(message)
    if status in _REJECTED:
        return ApiRejected(message)
    return ApiUnavailable(message)


def _api_exception_error(exc: ApiException) -> KubernetesApiError:
    status = exc.status if isinstance(exc.status, int) else 0
    return status_error(status, str(exc.reason or "").encode())


def _json_object(body: bytes) -> JsonObject:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiProtocolError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiProtocolError("not a JSON object")
    return value


def _list_items(page: JsonObject) -> list[JsonObject]:
    items = page.get("items")
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiProtocolError("a list whose items are not objects")
    return items

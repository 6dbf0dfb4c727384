"""A loopback Kubernetes API server for EndpointSlices, faithful to list/watch.

What it speaks, as kube-apiserver does:
- `GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices` with `labelSelector`
  (equality, inequality, existence, `in`/`notin`), `limit` and `continue` (pages served from
  one snapshot; a token older than the compacted history gets 410 `Expired`);
- the same path with `watch=true`: a chunked stream of JSON lines from `resourceVersion`
  (unset or "0": synthetic ADDED events for the current state first), `BOOKMARK` events when
  `allowWatchBookmarks=true`, an `ERROR` event with a 410 `Status` when the version is older
  than the kept history, selector transitions as ADDED/DELETED, and a clean end after
  `timeoutSeconds`;
- bearer-token authentication (401 `Status`), one global resourceVersion counter.

Faults a test can switch on: events split into tiny chunks with delays between them, a
stream that stalls, connections dropped in the middle of an event, 503s, a 410 sent as an
HTTP status instead of an event, and whole outages (`stop`, then `start` on the same port,
with the history lost as after an etcd restore).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

JsonDict = dict[str, object]
_PATH = re.compile(r"^/apis/discovery\.k8s\.io/v1/namespaces/([^/]+)/endpointslices$")
_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 410: "Gone", 503: "Unavailable"}


@dataclass(slots=True)
class Faults:
    """Switch faults on and off between steps of a test."""

    fragment_bytes: int | None = None
    """Split every watch line into chunks of this many bytes."""
    chunk_delay_s: float = 0.0
    """Sleep between chunks (a slow link)."""
    drop_after_events: int | None = None
    """Abort each watch connection half-way through the event after this many."""
    stall_watches: bool = False
    """Open watches send nothing more and never end (a dead peer without a FIN)."""
    unavailable: int = 0
    """The next N requests get 503."""
    gone_status: bool = False
    """Answer a too-old watch with HTTP 410 instead of a 200 stream with an ERROR event."""
    expire_continues: int = 0
    """The next N continued list requests get 410 Expired (history compacted mid-list)."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    params: Mapping[str, str]

    @property
    def watch(self) -> bool:
        return go_bool(self.params.get("watch"))


@dataclass(slots=True)
class _Event:
    version: int
    type: str
    old: JsonDict | None
    new: JsonDict


@dataclass(slots=True, eq=False)
class _Watcher:
    namespace: str
    selector: str
    queue: asyncio.Queue[_Event] = field(default_factory=asyncio.Queue)


class FakeApiServer:
    def __init__(
        self,
        *,
        token: str = "test-token",
        bookmark_interval_s: float = 0.2,
        history_limit: int = 10_000,
    ) -> None:
        self.token = token
        self.bookmark_interval_s = bookmark_interval_s
        self.history_limit = history_limit
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.port = 0
        self._version = 100
        self._objects: dict[tuple[str, str], JsonDict] = {}
        self._history: list[_Event] = []
        self._compacted = self._version
        self._snapshots: dict[int, list[JsonDict]] = {}
        self._watchers: set[_Watcher] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 (the same port again after `stop`)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """An outage: stop listening and cut every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.drop_connections()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def restart(self, *, lose_history: bool = True) -> None:
        """Stop and start; with `lose_history`, every older resourceVersion becomes 410."""
        await self.stop()
        if lose_history:
            self.compact()
        await self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "loopback", "cluster": {"server": self.url}}],
            "users": [{"name": "gateway", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "loopback",
                    "context": {"cluster": "loopback", "user": "gateway", "namespace": namespace},
                }
            ],
            "current-context": "loopback",
        }
        path.write_text(json.dumps(config), encoding="utf-8")
        return path

    # -- state -------------------------------------------------------------------------

    def put(self, obj: JsonDict) -> int:
        """Create or replace an EndpointSlice; returns its new resourceVersion."""
        new = copy.deepcopy(obj)
        metadata = new.setdefault("metadata", {})
        assert isinstance(metadata, dict)
        key = (str(metadata.get("namespace", "default")), str(metadata["name"]))
        metadata["namespace"] = key[0]
        old = self._objects.get(key)
        self._version += 1
        metadata["resourceVersion"] = str(self._version)
        metadata.setdefault("uid", f"uid-{key[0]}-{key[1]}")
        new.setdefault("kind", "EndpointSlice")
        new.setdefault("apiVersion", "discovery.k8s.io/v1")
        self._objects[key] = new
        self._record(_Event(self._version, "MODIFIED" if old else "ADDED", old, new))
        return self._version

    def delete(self, name: str, namespace: str = "default") -> int:
        old = self._objects.pop((namespace, name))
        self._version += 1
        gone = copy.deepcopy(old)
        metadata = gone["metadata"]
        assert isinstance(metadata, dict)
        metadata["resourceVersion"] = str(self._version)
        self._record(_Event(self._version, "DELETED", old, gone))
        return self._version

    def compact(self) -> None:
        """Forget the event history: watches from any older version now get 410."""
        self._history.clear()
        self._snapshots.clear()
        self._compacted = self._version

    @property
    def resource_version(self) -> int:
        return self._version

    def drop_connections(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    def watch_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.watch]

    def list_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if not request.watch]

    def _record(self, event: _Event) -> None:
        self._history.append(event)
        if len(self._history) > self.history_limit:
            dropped = self._history.pop(0)
            self._compacted = dropped.version
        for watcher in self._watchers:
            watcher.queue.put_nowait(event)

    # -- HTTP --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only `stop` cancels handlers; ending normally spares asyncio's stream callback
            # (Python 3.11) an error log about a cancelled task.
            pass
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)
            writer.transport.abort()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        parts = urlsplit(target)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.requests.append(RecordedRequest(parts.path, params))
        if self.faults.unavailable > 0:
            self.faults.unavailable -= 1
            return await _respond(writer, 503, _status(503, "ServiceUnavailable", "try later"))
        if headers.get("authorization") != f"Bearer {self.token}":
            return await _respond(writer, 401, _status(401, "Unauthorized", "Unauthorized"))
        match = _PATH.match(parts.path)
        if method != "GET" or match is None:
            return await _respond(
                writer,
                404,
                _status(404, "NotFound", "the server could not find the requested resource"),
            )
        namespace = match.group(1)
        if go_bool(params.get("watch")):
            await self._watch(writer, namespace, params)
            return True
        return await self._list(writer, namespace, params)

    async def _list(
        self, writer: asyncio.StreamWriter, namespace: str, params: Mapping[str, str]
    ) -> bool:
        selector = params.get("labelSelector", "")
        limit = int(params.get("limit") or 0)
        token = params.get("continue")
        if token:
            snapshot_version, offset = _decode_token(token)
            items = self._snapshots.get(snapshot_version)
            expire = self.faults.expire_continues > 0
            self.faults.expire_continues -= int(expire)
            if expire or items is None or snapshot_version < self._compacted:
                message = "The provided continue parameter is too old to display a consistent list."
                return await _respond(writer, 410, _status(410, "Expired", message))
        else:
            snapshot_version, offset = self._version, 0
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self._objects.items())
                if ns == namespace and selector_matches(selector, _labels(obj))
            ]
            for item in items:
                item.pop("kind", None)
                item.pop("apiVersion", None)
        page = items[offset : offset + limit] if limit else items[offset:]
        metadata: JsonDict = {"resourceVersion": str(snapshot_version)}
        if limit and offset + limit < len(items):
            self._snapshots[snapshot_version] = items
            metadata["continue"] = _encode_token(snapshot_version, offset + limit)
        body = {
            "kind": "EndpointSliceList",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": metadata,
            "items": page,
        }
        return await _respond(writer, 200, body)

    async def _watch(
        self, writer: asyncio.StreamWriter, namespace: str, params: Mapping[str, str]
    ) -> None:
        selector = params.get("labelSelector", "")
        start = params.get("resourceVersion", "")
        bookmarks = go_bool(params.get("allowWatchBookmarks"))
        timeout_s = float(params.get("timeoutSeconds") or 1800)
        if start not in ("", "0") and int(start) < self._compacted:
            message = f"too old resource version: {start} ({self._compacted})"
            status = _status(410, "Expired", message)
            if self.faults.gone_status:
                await _respond(writer, 410, status)
                return
            await _start_stream(writer)
            await self._send(writer, {"type": "ERROR", "object": status})
            await _end_stream(writer)
            return
        watcher = _Watcher(namespace, selector)
        self._watchers.add(watcher)
        try:
            await _start_stream(writer)
            async with asyncio.timeout(timeout_s):
                await self._stream(writer, watcher, start, bookmarks)
        except TimeoutError:
            await _end_stream(writer)
        finally:
            self._watchers.discard(watcher)

    async def _stream(
        self, writer: asyncio.StreamWriter, watcher: _Watcher, start: str, bookmarks: bool
    ) -> None:
        sent = 0
        if start in ("", "0"):
            last = self._version
            for (ns, _), obj in sorted(self._objects.items()):
                if ns == watcher.namespace and selector_matches(watcher.selector, _labels(obj)):
                    await self._send_event(writer, "ADDED", obj, sent)
                    sent += 1
        else:
            last = int(start)
            for event in list(self._history):
                if event.version > last:
                    sent += await self._send_change(writer, watcher, event, sent)
                    last = event.version
        while True:
            try:
                async with asyncio.timeout(self.bookmark_interval_s):
                    event = await watcher.queue.get()
            except TimeoutError:
                if bookmarks:
                    bookmark = {
                        "kind": "EndpointSlice",
                        "apiVersion": "discovery.k8s.io/v1",
                        "metadata": {"resourceVersion": str(self._version)},
                    }
                    await self._send(writer, {"type": "BOOKMARK", "object": bookmark})
                    last = self._version
                continue
            if event.version > last:
                sent += await self._send_change(writer, watcher, event, sent)
                last = event.version

    async def _send_change(
        self, writer: asyncio.StreamWriter, watcher: _Watcher, event: _Event, sent: int
    ) -> int:
        """Send `event` as this watcher sees it through its selector; returns events sent."""
        if event.new["metadata"]["namespace"] != watcher.namespace:  # type: ignore[index]
            return 0
        before = event.old is not None and selector_matches(watcher.selector, _labels(event.old))
        after = selector_matches(watcher.selector, _labels(event.new))
        if event.type == "DELETED":
            kind = "DELETED" if before else None
        elif before and after:
            kind = "MODIFIED"
        elif after:
            kind = "ADDED"
        elif before:
            kind = "DELETED"
        else:
            kind = None
        if kind is None:
            return 0
        await self._send_event(writer, kind, event.new, sent)
        return 1

    async def _send_event(
        self, writer: asyncio.StreamWriter, kind: str, obj: JsonDict, sent: int
    ) -> None:
        line = {"type": kind, "object": obj}
        if self.faults.drop_after_events is not None and sent >= self.faults.drop_after_events:
            data = _line(line)
            await _write_chunk(writer, data[: len(data) // 2])
            writer.transport.abort()
            raise ConnectionResetError("fault: dropped mid-event")
        await self._send(writer, line)

    async def _send(self, writer: asyncio.StreamWriter, line: JsonDict) -> None:
        if self.faults.stall_watches:
            await asyncio.Event().wait()  # until the watch's own timeout ends it
        data = _line(line)
        size = self.faults.fragment_bytes or len(data)
        for at in range(0, len(data), size):
            if self.faults.chunk_delay_s:
                await asyncio.sleep(self.faults.chunk_delay_s)
            await _write_chunk(writer, data[at : at + size])


def go_bool(value: str | None) -> bool:
    """Query booleans as the API server parses them (Go's strconv.ParseBool)."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


# -- label selectors ------------------------------------------------------------------

_SET_TERM = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics for the operators the API accepts."""
    return all(_term_matches(term, labels) for term in _split_terms(selector))


def _split_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


def _term_matches(term: str, labels: Mapping[str, str]) -> bool:
    set_term = _SET_TERM.match(term)
    if set_term:
        key, op, values = set_term.groups()
        allowed = {value.strip() for value in values.split(",")}
        return (labels.get(key) in allowed) if op == "in" else (labels.get(key) not in allowed)
    for op in ("!=", "==", "="):
        if op in term:
            key, value = (part.strip() for part in term.split(op, 1))
            return labels.get(key) != value if op == "!=" else labels.get(key) == value
    if term.startswith("!"):
        return term[1:].strip() not in labels
    return term in labels


# -- wire helpers ---------------------------------------------------------------------


def _labels(obj: Mapping[str, object]) -> dict[str, str]:
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return dict(labels) if isinstance(labels, dict) else {}


def _status(code: int, reason: str, message: str) -> JsonDict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _line(obj: JsonDict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _encode_token(version: int, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"rv": version, "start": offset}).encode()).decode()


def _decode_token(token: str) -> tuple[int, int]:
    data = json.loads(base64.urlsafe_b64decode(token.encode()))
    return int(data["rv"]), int(data["start"])


async def _respond(writer: asyncio.StreamWriter, status: int, body: JsonDict) -> bool:
    # Compact JSON without a trailing newline, as kube-apiserver sends it.
    data = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    writer.write(head.encode() + data)
    await writer.drain()
    return True


async def _start_stream(writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n\r\n"
    )
    await writer.drain()


async def _write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


async def _end_stream(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        writer.write(b"0\r\n\r\n")
        await writer.drain()


# -- objects --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pod:
    """One engine pod in a slice: its address and the three conditions (None = unset)."""

    ip: str
    ready: bool | None = True
    serving: bool | None = True
    terminating: bool | None = False
    name: str | None = None
    node: str | None = "gpu-node-1"
    zone: str | None = "zone-a"

    def as_endpoint(self) -> JsonDict:
        conditions = {
            key: value
            for key, value in (
                ("ready", self.ready),
                ("serving", self.serving),
                ("terminating", self.terminating),
            )
            if value is not None
        }
        endpoint: JsonDict = {"addresses": [self.ip], "conditions": conditions}
        if self.name:
            endpoint["targetRef"] = {"kind": "Pod", "name": self.name, "namespace": "default"}
        if self.node:
            endpoint["nodeName"] = self.node
        if self.zone:
            endpoint["zone"] = self.zone
        return endpoint


DEFAULT_PORTS = (("http", 8000), ("metrics", 8000), ("kv-events", 5557))


def endpoint_slice(
    name: str,
    service: str,
    pods: list[Pod],
    *,
    namespace: str = "default",
    ports: tuple[tuple[str, int], ...] = DEFAULT_PORTS,
    labels: Mapping[str, str] | None = None,
    address_type: str = "IPv4",
) -> JsonDict:
    """An EndpointSlice as the EndpointSlice controller writes it for `service`."""
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                **(labels or {}),
            },
        },
        "addressType": address_type,
        "endpoints": [pod.as_endpoint() for pod in pods],
        "ports": [
            {"name": port_name, "port": port, "protocol": "TCP"} for port_name, port in ports
        ],
    }

"""A fixed list of engines from CLI flags, the environment, or a YAML file.

```yaml
backends:
  - http://127.0.0.1:8001            # a bare URL
  - url: http://127.0.0.1:8002       # or an object with an optional name and labels
    name: engine-b
    labels: {zone: a}
    kv_events: tcp://127.0.0.1:5557  # its KV-event publisher (precise prefix mode)
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gateway.discovery.datastore import EndpointDatastore
from gateway.discovery.endpoint import Endpoint
from gateway.discovery.interfaces import Discovery


class BackendsFileError(ValueError):
    """The backends file cannot be read or does not match the schema."""


class _BackendEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    name: str | None = None
    labels: dict[str, str] = {}
    kv_events: str | None = None

    @field_validator("kv_events")
    @classmethod
    def _check_kv_events(cls, address: str | None) -> str | None:
        if address is not None and not address.startswith(("tcp://", "ipc://")):
            raise ValueError(f"kv_events must be a tcp:// or ipc:// address: {address!r}")
        return address

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"backend URL must start with http:// or https://: {url!r}")
        return url.rstrip("/")


class _BackendsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    backends: list[_BackendEntry | str]


def endpoint_id_for(url: str) -> str:
    """`host:port` of a URL: short, stable and readable as a metric label."""
    parts = urlsplit(url)
    return parts.netloc or url


def load_backends_file(path: Path) -> list[Endpoint]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _BackendsFile.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise BackendsFileError(f"cannot load backends file {path}: {exc}") from exc
    endpoints = []
    for entry in parsed.backends:
        if isinstance(entry, str):
            entry = _BackendEntry(url=entry)
        endpoint_id = entry.name or endpoint_id_for(entry.url)
        endpoints.append(Endpoint(endpoint_id, entry.url, dict(entry.labels), entry.kv_events))
    return endpoints


def static_endpoints(
    urls: Sequence[str],
    backends_file: Path | None,
    kv_events: Mapping[str, str] | None = None,
) -> list[Endpoint]:
    """Endpoints from URLs and an optional file, de-duplicated by id (first one wins).

    `kv_events` maps an engine's base URL to its KV-event publisher address; it applies to
    the URLs given and to file entries without their own `kv_events`.
    """
    kv_events = kv_events or {}
    endpoints = [
        Endpoint(endpoint_id_for(url), url.rstrip("/"), kv_events=kv_events.get(url.rstrip("/")))
        for url in urls
    ]
    if backends_file is not None:
        for endpoint in load_backends_file(backends_file):
            address = endpoint.kv_events or kv_events.get(endpoint.url)
            endpoints.append(dataclasses.replace(endpoint, kv_events=address))
    unique: dict[str, Endpoint] = {}
    for endpoint in endpoints:
        unique.setdefault(endpoint.id, endpoint)
    return list(unique.values())


class StaticDiscovery(Discovery):
    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self._endpoints = tuple(endpoints)

    async def run(self, datastore: EndpointDatastore) -> None:
        datastore.replace_endpoints(self._endpoints)

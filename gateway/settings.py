"""Process settings: environment variables `KVGATE_*`, overridden by CLI flags.

Behaviour (routing profiles, safety rules, tenants) lives in policy YAML, not here. Times are
seconds. List-valued variables take comma- or space-separated values, e.g.
`KVGATE_BACKENDS="http://10.0.0.1:8000,http://10.0.0.2:8000"`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PickerName = Literal["least-in-flight", "round-robin"]
UpstreamClientName = Literal["aiohttp", "httpx"]
LogLevel = Literal["debug", "info", "warning", "error"]

_Seconds = Annotated[float, Field(gt=0)]


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KVGATE_", frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    backends: Annotated[tuple[str, ...], NoDecode] = ()
    """Engine base URLs (`http://host:port`), in addition to those in `backends_file`."""
    backends_file: Path | None = None
    api_key_file: Path | None = None
    """One API key per line; blank and `#` lines ignored. Unset: open mode, no keys."""
    upstream_api_key: SecretStr | None = None
    """Sent to engines as `Authorization: Bearer …` (the client's own header never is)."""
    picker: PickerName = "least-in-flight"

    max_body_bytes: int = Field(16 * 1024 * 1024, gt=0)
    connect_timeout: _Seconds = 3.0
    first_byte_timeout: _Seconds = 120.0
    """Until the engine's response head; for a non-streaming request that is the whole answer."""
    idle_timeout: _Seconds = 60.0
    """Longest silence allowed between two chunks of a response body."""
    total_timeout: _Seconds = 600.0
    upstream_client: UpstreamClientName = "aiohttp"
    """The HTTP client library for engine calls; aiohttp measured about twice as fast."""
    upstream_max_connections: int = Field(4096, gt=0)
    upstream_keepalive_expiry: _Seconds = 4.0
    """Below the engines' own keep-alive timeout (uvicorn's default 5 s), so the gateway,
    not the engine, closes idle connections and never writes to one being closed."""
    retry_attempts: int = Field(2, ge=1, le=5)
    """Attempts per request, counting the first; retries happen only before the first byte."""

    refresh_interval: _Seconds = 5.0
    """How often each engine's `/v1/models` is fetched (also its health check)."""
    refresh_timeout: _Seconds = 2.0

    drain_timeout: _Seconds = 30.0
    """After SIGTERM, how long running requests may take to finish before they are cancelled."""
    shutdown_delay: float = Field(0.0, ge=0)
    """After SIGTERM, how long to keep serving with `/readyz` failing before closing the
    listener (lets a load balancer notice the pod is going away)."""

    log_level: LogLevel = "info"
    access_log: bool = False

    @field_validator("backends", mode="before")
    @classmethod
    def _split_backends(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split() if part)
        return value

    @field_validator("backends")
    @classmethod
    def _check_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"backend URL must start with http:// or https://: {url!r}")
        return tuple(url.rstrip("/") for url in value)

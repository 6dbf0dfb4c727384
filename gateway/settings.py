"""Process settings: environment variables `KVGATE_*`, overridden by CLI flags.

Behaviour (routing profiles, safety rules, tenants) lives in policy YAML, not here. Times are
seconds. List-valued variables take comma- or space-separated values, e.g.
`KVGATE_BACKENDS="http://10.0.0.1:8000,http://10.0.0.2:8000"`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PrefixMode = Literal["approximate", "precise", "both"]
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

    k8s_services: Annotated[tuple[str, ...], NoDecode] = ()
    """Kubernetes discovery: Services fronting the engines, as `[NAMESPACE/]NAME[:PORT]`
    (PORT a Service port name or number); their EndpointSlices are watched."""
    k8s_namespace: str = "default"
    """Namespace of the services given without one, and of the label selector."""
    k8s_label_selector: str | None = None
    """Also (or instead) watch the slices of every Service whose labels match this."""
    k8s_port: str | None = None
    """The engines' HTTP port (name or number) where a pool names none; unset: the slice's
    only port, else the port named `http`."""
    kubeconfig: Path | None = None
    """Outside a cluster: the kubeconfig (default `$KUBECONFIG`, then `~/.kube/config`)."""
    kube_context: str | None = None
    k8s_sync_timeout: float = Field(10.0, ge=0)
    """At startup, how long to wait for the first list of every pool before serving
    (`/readyz` fails until it is done)."""
    api_key_file: Path | None = None
    """One API key per line; blank and `#` lines ignored. Unset: open mode, no keys."""
    upstream_api_key: SecretStr | None = None
    """Sent to engines as `Authorization: Bearer …` (the client's own header never is)."""

    policy_file: Path | None = None
    """The routing policy YAML (`policies/routing.yaml` is the default one); unset: the
    built-in policy, equal to that file. Reloaded when it changes."""
    policy_poll_interval: _Seconds = 1.0
    routing_profile: str | None = None
    """Route every request class with this one profile of the policy (e.g. `round-robin`)."""
    kv_aware_routing: bool = Field(
        True, validation_alias=AliasChoices("ENABLE_KV_AWARE_ROUTING", "kv_aware_routing")
    )
    """`ENABLE_KV_AWARE_ROUTING=false` leaves prefix lookups and scoring out of every profile."""
    prompt_token_threshold: int | None = Field(
        None,
        ge=0,
        validation_alias=AliasChoices("PROMPT_TOKEN_THRESHOLD", "prompt_token_threshold"),
    )
    """`PROMPT_TOKEN_THRESHOLD`: prompts above this many tokens are `long_context` (replaces
    the policy's `classification.longContext.promptTokensAbove`)."""

    tokenizer: str = "qwen2.5"
    """The tokenizer spec for prompts (`qwen2.5`, `tiktoken:NAME`, `hf:PATH`, `engine`, …)."""
    chat_template: str = "chatml"

    prefix_mode: PrefixMode = "approximate"
    """Where prefix locality comes from: `approximate` (the gateway records each prompt on
    the engine it chose, at the first byte), `precise` (the engines' KV events only) or
    `both`."""
    block_size: int = Field(16, ge=1, le=1024)
    """Tokens per prefix block; must equal the engines' `--block-size` in precise mode."""
    prefix_capacity: int = Field(100_000, ge=1)
    """Blocks remembered per engine (about twice the engines' `num_gpu_blocks`)."""
    prefix_ttl: _Seconds = 600.0
    redis_url: SecretStr | None = None
    """`redis://host:port/db`: share the prefix index between gateway replicas."""
    redis_key_prefix: str = "kvgate:prefix"
    kv_events_endpoints: Annotated[tuple[str, ...], NoDecode] = ()
    """`ENGINE_URL=tcp://host:port` pairs: where each engine publishes its KV events."""
    kv_events_topic: str = ""
    """Topic prefix to subscribe to ("" for every topic)."""

    metrics_interval: _Seconds = 0.2
    """How often each engine's `/metrics` is scraped for queue and KV-cache load."""
    metrics_timeout: _Seconds = 1.0
    saturation_queue_threshold: int = Field(5, ge=0)
    """An engine with more waiting requests is saturated (skipped while others are not)."""
    saturation_kv_threshold: float = Field(0.8, ge=0, le=1)

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

    safety_policy_file: Path | None = None
    """Input and output guards per tenant and model (`policies/safety.yaml` is the default
    one); unset: the built-in policy, equal to that file. Reloaded when it changes."""
    tenants_file: Path | None = None
    """API key ids → tenant names and allow-lists (`policies/tenants.example.yaml`); unset:
    every key is its own tenant and nothing is restricted. Reloaded when it changes."""

    governance_file: Path | None = None
    """Audit sinks, model versions, response headers and the output monitor
    (`policies/governance.yaml`); unset: built-in defaults (no sink, monitor on)."""
    audit_sinks: Annotated[tuple[str, ...], NoDecode] = ()
    """`jsonl:stdout`, `jsonl:PATH`, `redis-stream:KEY` (uses `redis_url`), `otel`; when
    given, they replace the governance file's sinks."""
    tracing: bool = False
    """One OpenTelemetry server span per request (also on with an `otel` audit sink)."""

    log_level: LogLevel = "info"
    access_log: bool = False

    @field_validator("audit_sinks", mode="before")
    @classmethod
    def _split_sinks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split() if part)
        return value

    @field_validator("backends", "kv_events_endpoints", "k8s_services", mode="before")
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

    @field_validator("kv_events_endpoints")
    @classmethod
    def _check_kv_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            url, sep, address = item.partition("=")
            if not sep or not url.startswith(("http://", "https://")):
                raise ValueError(f"expected ENGINE_URL=tcp://host:port, got {item!r}")
            if not address.startswith(("tcp://", "ipc://")):
                raise ValueError(f"KV-events address must be tcp:// or ipc://: {address!r}")
        return tuple(
            f"{url.rstrip('/')}={address}"
            for url, _, address in (item.partition("=") for item in value)
        )

    def kubernetes_discovery(self) -> bool:
        """Whether engines come from Kubernetes (a service or a label selector is set)."""
        return bool(self.k8s_services or self.k8s_label_selector)

    def kv_events_by_url(self) -> dict[str, str]:
        """Engine base URL → KV-events address, from `kv_events_endpoints`."""
        pairs = (item.partition("=") for item in self.kv_events_endpoints)
        return {url: address for url, _, address in pairs}

"""Build every long-lived object at startup, own the background work, tear down in order.

Startup: metrics, the prefix index (memory, or Redis with `--redis-url`), the routing
runtime from the policy (file or built-in), the prompt builder, the upstream client, the
director; then discovery (a static list, or Kubernetes EndpointSlices watched until
shutdown, waited for up to `k8s_sync_timeout`), a first model refresh and a first metrics
scrape, and the background work: model refresh, metrics scraper, KV-event feeds (precise
mode), policy watcher (with a policy file).

Shutdown order (LIFO): background tasks are cancelled and awaited, then the scraper and
the KV-event subscribers stop, then Kubernetes discovery, then the index, the HTTP clients
and the tokenizer pool close. By then uvicorn has already stopped accepting and drained or
cancelled requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager

import aiohttp
import httpx
from starlette.types import ASGIApp

from gateway.auth.api_keys import ApiKeyAuthenticator, OpenAccess, read_key_file
from gateway.auth.interfaces import Authenticator
from gateway.config.loader import initial_policy
from gateway.config.models import RoutingPolicy
from gateway.config.watcher import PolicyWatcher
from gateway.discovery.datastore import EndpointDatastore
from gateway.discovery.engine_load import EngineLoadStore
from gateway.discovery.kubernetes import DatastoreSink, KubernetesDiscovery
from gateway.discovery.kubernetes_config import KubernetesDiscoveryConfig, config_from_settings
from gateway.discovery.kv_event_feeds import KVEventFeeds
from gateway.discovery.metrics_scraper import (
    Fetch,
    MetricsScraper,
    aiohttp_fetcher,
    httpx_fetcher,
)
from gateway.discovery.model_refresh import ModelRefresher
from gateway.discovery.static import StaticDiscovery, static_endpoints
from gateway.governance.setup import build_governance
from gateway.observability.engine_scrapes import ScrapeRecorder
from gateway.observability.metrics import GatewayMetrics
from gateway.plugins.base import PluginDeps
from gateway.plugins.registry import builtin_registry
from gateway.prefix.interfaces import PrefixIndex
from gateway.prefix.memory import MemoryPrefixIndex
from gateway.prefix.redis_index import RedisIndexConfig, RedisPrefixIndex
from gateway.proxy.client import TRANSPORTS, PoolLimits, UpstreamClient, UpstreamTimeouts
from gateway.proxy.httpx_upstream import HttpxTransport
from gateway.proxy.interfaces import UpstreamTransport
from gateway.proxy.retry import RetryPolicy
from gateway.routing.director import Director, Stages
from gateway.routing.locality import PrefixLocality
from gateway.routing.prompt_builder import ENGINE, TokenizerChoice, TokenizingPromptBuilder
from gateway.routing.runtime import RoutingRuntime, RuntimeHolder, RuntimeOptions, build_runtime
from gateway.routing.saturation import SaturationDetector
from gateway.safety.setup import build_safety
from gateway.settings import GatewaySettings
from gateway.state import STATE_KEY, GatewayState, Readiness
from gateway.tokenize.engine import EngineTokenizer
from gateway.types import EndpointId

logger = logging.getLogger(__name__)

Lifespan = Callable[[ASGIApp], AbstractAsyncContextManager[dict[str, GatewayState]]]


class BackgroundWork:
    """Named tasks that live as long as the app; `close` cancels and awaits them all."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def start(self, name: str, work: Coroutine[object, object, None]) -> None:
        """Run `work` as a task; after `close`, `work` is dropped unstarted."""
        if self._closed:
            work.close()
            return
        task = asyncio.create_task(work, name=f"kvgate-{name}")
        task.add_done_callback(self._finished)
        self._tasks.add(task)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s died", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def build_authenticator(
    settings: GatewaySettings, tenant_name: Callable[[str], str | None] | None = None
) -> Authenticator:
    """`tenant_name`: a key's SHA-256 (hex) → the tenant the tenants file names for it."""
    if settings.api_key_file is None:
        return OpenAccess()
    keys = read_key_file(settings.api_key_file)
    if tenant_name is None:
        return ApiKeyAuthenticator(keys)
    return ApiKeyAuthenticator(keys, tenant_name)


def build_prefix_index(settings: GatewaySettings) -> PrefixIndex:
    if settings.redis_url is None:
        return MemoryPrefixIndex(capacity=settings.prefix_capacity, ttl_s=settings.prefix_ttl)
    config = RedisIndexConfig(
        key_prefix=settings.redis_key_prefix,
        ttl_s=settings.prefix_ttl,
        capacity=settings.prefix_capacity,
    )
    return RedisPrefixIndex.from_url(settings.redis_url.get_secret_value(), config)


def runtime_builder(
    settings: GatewaySettings, deps: PluginDeps
) -> Callable[[RoutingPolicy], RoutingRuntime]:
    """Policy → runtime, with this process's registry, plugin deps and options."""
    registry = builtin_registry()
    options = RuntimeOptions(
        kv_aware=settings.kv_aware_routing,
        prompt_token_threshold=settings.prompt_token_threshold,
        routing_profile=settings.routing_profile,
    )
    return lambda policy: build_runtime(policy, registry, deps, options)


def build_prompt_builder(
    settings: GatewaySettings,
    datastore: EndpointDatastore,
    transport: UpstreamTransport,
    metrics: GatewayMetrics,
) -> TokenizingPromptBuilder:
    engine = EngineTokenizer(transport) if settings.tokenizer == ENGINE else None
    return TokenizingPromptBuilder(
        default=TokenizerChoice(settings.tokenizer, settings.chat_template),
        base_model=datastore.base_model,
        engine_tokenizer=engine,
        engine_url=datastore.engine_url if engine is not None else None,
        block_size=settings.block_size,
        on_fallback=lambda model, reason: metrics.record_tokenize_fallback(reason),
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
        loads = EngineLoadStore()
        timeouts = UpstreamTimeouts(
            connect=settings.connect_timeout,
            first_byte=settings.first_byte_timeout,
            idle=settings.idle_timeout,
            total=settings.total_timeout,
        )
        async with contextlib.AsyncExitStack() as stack:
            index = build_prefix_index(settings)
            stack.push_async_callback(index.close)
            metrics.watch_prefix_index(index.stats)
            background = BackgroundWork()
            datastore = EndpointDatastore(
                metrics,
                loads,
                _saturation(settings),
                on_removed=_forget_departed(background, index),
            )
            build = runtime_builder(settings, PluginDeps(index, settings.block_size))
            policy, policy_digest = initial_policy(settings.policy_file)
            routing = RuntimeHolder(build(policy))
            upstream_transport = build_transport(settings, timeouts, transport)
            upstream = UpstreamClient(upstream_transport, timeouts)
            stack.push_async_callback(upstream.aclose)
            prompts = build_prompt_builder(settings, datastore, upstream_transport, metrics)
            stack.callback(prompts.close)
            # Health checks get their own small pool, so a saturated data plane cannot make
            # healthy engines look dead.
            control_plane = httpx.AsyncClient(
                timeout=settings.refresh_timeout, transport=transport, trust_env=False
            )
            stack.push_async_callback(control_plane.aclose)
            governance = build_governance(settings, datastore.model_root)
            await governance.start()
            # Closed after uvicorn drained the requests, so their queued records are written.
            stack.push_async_callback(governance.aclose)
            metrics.watch_governance(governance.stats)
            safety = build_safety(settings, upstream_transport, metrics.record_safety_reload)
            stages = Stages(
                auth=build_authenticator(settings, safety.tenant_name),
                input_guard=safety.input_guard,
                prompts=prompts,
                routing=routing,
                locality=PrefixLocality(
                    index,
                    block_size=settings.block_size,
                    record=settings.prefix_mode != "precise" and settings.kv_aware_routing,
                ),
                output_guard=safety.output_guard,
                audit=governance,
            )
            director = Director(
                stages,
                datastore,
                upstream,
                RetryPolicy(settings.retry_attempts),
                metrics,
                upstream_authorization=_upstream_authorization(settings),
            )
            discovery = await _start_discovery(stack, settings, datastore)
            if discovery is not None:
                metrics.watch_discovery(discovery.health)
            refresher = ModelRefresher(
                datastore,
                control_plane,
                interval_s=settings.refresh_interval,
                timeout_s=settings.refresh_timeout,
            )
            await refresher.refresh_all()
            fetch = await _scrape_fetch(stack, settings, control_plane, transport)
            scraper = MetricsScraper(
                datastore.endpoints,
                loads,
                fetch,
                interval_s=settings.metrics_interval,
                timeout_s=settings.metrics_timeout,
                observer=ScrapeRecorder(metrics, _forget_on_restart(background, index)),
            )
            await scraper.scrape_all()
            scraper.start()
            stack.push_async_callback(scraper.stop)
            if settings.prefix_mode != "approximate" and settings.kv_aware_routing:
                feeds = KVEventFeeds(
                    datastore, index, block_size=settings.block_size, topic=settings.kv_events_topic
                )
                stack.push_async_callback(feeds.stop)
                metrics.watch_kv_events(feeds.stats)
                _warn_without_kv_events(datastore)
                background.start("kv-event-feeds", feeds.run())
            # Closed first at shutdown (LIFO): no task may use what is torn down after it.
            stack.push_async_callback(background.close)
            background.start("model-refresh", refresher.run())
            if settings.policy_file is not None:
                watcher = PolicyWatcher(
                    settings.policy_file,
                    routing,
                    build,
                    loaded_digest=policy_digest,
                    observer=metrics.record_policy_reload,
                    interval_s=settings.policy_poll_interval,
                )
                background.start("policy-watcher", watcher.run())
            for safety_watcher in safety.watchers:
                background.start(f"{safety_watcher.what}-watcher", safety_watcher.run())
            state = GatewayState(settings, readiness, datastore, director, metrics, discovery)
            logger.info(
                "gateway up: %d engines, %d ready",
                len(datastore.endpoints()),
                datastore.snapshot().ready_count(),
            )
            yield {STATE_KEY: state}
            logger.info("gateway shutting down")

    return lifespan


def _saturation(settings: GatewaySettings) -> SaturationDetector:
    return SaturationDetector(
        queue_threshold=settings.saturation_queue_threshold,
        kv_threshold=settings.saturation_kv_threshold,
        stale_after=max(3 * settings.metrics_interval, 1.0),  # the scraper's own rule
    )


def kubernetes_discovery_config(settings: GatewaySettings) -> KubernetesDiscoveryConfig | None:
    """What Kubernetes discovery the settings ask for; None when they name no pool.
    Raises `DiscoveryConfigError` for a malformed pool."""
    if not settings.kubernetes_discovery():
        return None
    return config_from_settings(
        services=settings.k8s_services,
        namespace=settings.k8s_namespace,
        label_selector=settings.k8s_label_selector,
        port=settings.k8s_port,
        kubeconfig=settings.kubeconfig,
        context=settings.kube_context,
    )


async def _start_discovery(
    stack: contextlib.AsyncExitStack, settings: GatewaySettings, datastore: EndpointDatastore
) -> KubernetesDiscovery | None:
    """Fill the datastore: once from the static list, or from Kubernetes until shutdown
    (then the watching discovery is returned)."""
    config = kubernetes_discovery_config(settings)
    if config is None:
        endpoints = static_endpoints(
            settings.backends, settings.backends_file, settings.kv_events_by_url()
        )
        await StaticDiscovery(endpoints).run(datastore)
        return None
    discovery = KubernetesDiscovery(config)
    await discovery.start(DatastoreSink(datastore))  # raises ClusterAccessError
    # Stopped before the HTTP clients close, after the work that reads the datastore.
    stack.push_async_callback(discovery.stop)
    if not await discovery.wait_synced(settings.k8s_sync_timeout):
        logger.warning(
            "kubernetes discovery: not every pool listed within %.1f s; "
            "/readyz fails until they are",
            settings.k8s_sync_timeout,
        )
    return discovery


def _forget_departed(
    background: BackgroundWork, index: PrefixIndex
) -> Callable[[EndpointId], None]:
    """An engine that left discovery for good takes its cached prefixes with it."""

    def forget(endpoint_id: EndpointId) -> None:
        background.start(f"forget-{endpoint_id}", index.clear(endpoint_id))

    return forget


def _forget_on_restart(
    background: BackgroundWork, index: PrefixIndex
) -> Callable[[EndpointId], None]:
    """An engine that restarted has an empty cache, whatever the index remembers."""

    def forget(endpoint_id: EndpointId) -> None:
        logger.info("engine %s restarted: forgetting its cached prefixes", endpoint_id)
        background.start(f"forget-{endpoint_id}", index.clear(endpoint_id))

    return forget


async def _scrape_fetch(
    stack: contextlib.AsyncExitStack,
    settings: GatewaySettings,
    control_plane: httpx.AsyncClient,
    mock: httpx.AsyncBaseTransport | None,
) -> Fetch:
    """aiohttp (half httpx's CPU per scrape), unless tests replaced the network."""
    if mock is not None:
        return httpx_fetcher(control_plane)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(total=settings.metrics_timeout),
        auto_decompress=False,
    )
    stack.push_async_callback(session.close)
    return aiohttp_fetcher(session)


def _warn_without_kv_events(datastore: EndpointDatastore) -> None:
    for endpoint in datastore.endpoints():
        if endpoint.kv_events is None:
            logger.warning(
                "engine %s has no KV-events endpoint: precise mode never sees its cache "
                "(pass --kv-events-endpoint URL=tcp://host:port)",
                endpoint.id,
            )

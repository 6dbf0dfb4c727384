"""Snapshots and scheduling contexts for plugin tests, in one line each."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.discovery.endpoint import Endpoint
from gateway.openai.prompt import Prompt
from gateway.plugins.base import PluginDeps
from gateway.prefix.memory import MemoryPrefixIndex
from gateway.routing.interfaces import SchedulingContext
from gateway.routing.request import InferenceRequest
from gateway.routing.snapshot import EndpointSnapshot
from gateway.types import RequestKind

MODEL = "m"
BLOCK = 16


def snap(
    name: str,
    *,
    in_flight: int = 0,
    waiting: int | None = None,
    running: int | None = None,
    kv: float | None = None,
    models: str = MODEL,
    adapters: str = "",
    active: str = "",
    max_loras: int | None = None,
    ready: bool = True,
    ejected: bool = False,
    saturated: bool = False,
) -> EndpointSnapshot:
    return EndpointSnapshot(
        Endpoint(name, f"http://{name}"),
        frozenset(models.split()) | frozenset(adapters.split()),
        ready,
        in_flight,
        num_waiting=waiting,
        num_running=running,
        kv_usage=kv,
        adapters=frozenset(adapters.split()),
        active_adapters=frozenset(active.split()),
        max_loras=max_loras,
        ejected=ejected,
        saturated=saturated,
    )


def request(
    model: str = MODEL,
    *,
    priority: int = 0,
    session: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> InferenceRequest:
    return InferenceRequest(
        "r",
        RequestKind.CHAT,
        model,
        b"{}",
        {},
        priority=priority,
        session_id=session,
        headers=headers or [],
    )


def prompt(tokens: int) -> Prompt:
    """A prompt of `tokens` tokens whose block hashes are 1, 2, 3, …"""
    return Prompt("t", tuple(range(tokens)), tuple(range(1, tokens // BLOCK + 1)))


def context(
    *,
    model: str = MODEL,
    tokens: int = 0,
    matches: Mapping[str, int] | None = None,
    session: str | None = None,
) -> SchedulingContext:
    return SchedulingContext(
        request(model, session=session),
        prompt(tokens),
        "chat",
        prefix_lookup=matches is not None,
        prefix_matches=dict(matches or {}),
    )


def deps(seed: int | None = 7) -> PluginDeps:
    return PluginDeps(MemoryPrefixIndex(), BLOCK, seed=seed)

"""Readiness flips on the first signal, before uvicorn starts its own shutdown."""

from __future__ import annotations

import asyncio
import signal

import pytest

from gateway.server import build_server
from gateway.settings import GatewaySettings
from gateway.state import Readiness


def test_no_delay_flips_readiness_and_exits_at_once() -> None:
    readiness = Readiness()
    server = build_server(GatewaySettings(backends=("http://127.0.0.1:1",)), readiness)
    server.handle_exit(signal.SIGTERM, None)
    assert readiness.draining
    assert server.should_exit


async def test_delay_keeps_serving_until_it_elapses() -> None:
    readiness = Readiness()
    settings = GatewaySettings(backends=("http://127.0.0.1:1",), shutdown_delay=0.05)
    server = build_server(settings, readiness)
    server.handle_exit(signal.SIGTERM, None)
    assert readiness.draining
    assert not server.should_exit
    assert not await server.on_tick(1)
    await asyncio.sleep(0.06)
    assert await server.on_tick(2)
    assert server.should_exit


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_second_signal_skips_the_delay(second: signal.Signals) -> None:
    readiness = Readiness()
    settings = GatewaySettings(backends=("http://127.0.0.1:1",), shutdown_delay=60)
    server = build_server(settings, readiness)
    server.handle_exit(signal.SIGTERM, None)
    server.handle_exit(second, None)
    assert server.should_exit


def test_drain_timeout_becomes_uvicorns_graceful_timeout() -> None:
    settings = GatewaySettings(backends=("http://127.0.0.1:1",), drain_timeout=2.5)
    server = build_server(settings, Readiness())
    assert server.config.timeout_graceful_shutdown == 3

"""uvicorn, with readiness flipped first on SIGTERM.

uvicorn's own shutdown (on SIGTERM or SIGINT) closes the listening sockets, asks idle
keep-alive connections to close, waits up to `timeout_graceful_shutdown` for running
requests, cancels what is left, then runs the lifespan shutdown. This server flips
readiness before any of that and, when a shutdown delay is set, keeps serving for that long
with `/readyz` failing, so a load balancer stops sending traffic before the listener closes.
A second signal skips the delay.
"""

from __future__ import annotations

import asyncio
import math
from types import FrameType

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.state import Readiness


class GatewayServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, readiness: Readiness, shutdown_delay: float) -> None:
        super().__init__(config)
        self._readiness = readiness
        self._shutdown_delay = shutdown_delay
        self._delayed_signal: int | None = None
        self._shutdown_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first = not self._readiness.draining
        self._readiness.start_draining()
        if first and self._shutdown_delay > 0:
            # Runs in a signal handler: only record; `on_tick` acts on the event loop.
            self._delayed_signal = sig
            return
        self._delayed_signal = None
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._delayed_signal is not None:
            now = asyncio.get_running_loop().time()
            if self._shutdown_at is None:
                self._shutdown_at = now + self._shutdown_delay
            elif now >= self._shutdown_at:
                sig, self._delayed_signal = self._delayed_signal, None
                super().handle_exit(sig, None)
        return await super().on_tick(counter)


def build_server(settings: GatewaySettings, readiness: Readiness) -> GatewayServer:
    config = uvicorn.Config(
        create_app(settings, readiness),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="none",
        proxy_headers=False,  # the gateway never reads the client address
        lifespan="on",
        access_log=settings.access_log,
        log_config=None,
        server_header=False,
        # uvicorn takes whole seconds; round up so the drain is never shorter than asked.
        timeout_graceful_shutdown=math.ceil(settings.drain_timeout),
    )
    return GatewayServer(config, readiness, settings.shutdown_delay)

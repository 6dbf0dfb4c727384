"""Cancel a request's task when its client disconnects, so the engine aborts the work too.

Without this, a client that hangs up while the engine is still prefilling would be noticed
only at the next write, and the engine would keep generating for nobody.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from starlette.types import Receive

from gateway.api.asgi_writer import AsgiResponseWriter


class DisconnectWatch:
    """Async context manager; use after the request body has been read in full.

    On `http.disconnect` before the response ended, the task that entered the context is
    cancelled; the cancellation is absorbed on exit, and `disconnected` tells it happened.
    """

    def __init__(self, receive: Receive, writer: AsgiResponseWriter) -> None:
        self._receive = receive
        self._writer = writer
        self._task: asyncio.Task[object] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.disconnected = False

    async def __aenter__(self) -> DisconnectWatch:
        self._task = asyncio.current_task()
        self._watcher = asyncio.create_task(self._watch(), name="kvgate-disconnect-watch")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._watcher is not None
        assert self._task is not None
        self._watcher.cancel()
        if self.disconnected and exc_type is asyncio.CancelledError:
            # Absorb only our own cancellation; one from elsewhere (shutdown) still propagates.
            return self._task.uncancel() == 0
        return False

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
        if not self._writer.finished and self._task is not None:
            self.disconnected = True
            self._task.cancel()

"""Hot reload of the routing policy file: poll, validate, build, swap; keep the last good.

Every `interval_s` the file is read and hashed (off the event loop); when the bytes
changed, they are validated and built into a new routing runtime, which replaces the
current one in a single assignment. A file that does not validate or build is rejected
with one ERROR log line naming the problem, and the last good runtime keeps routing; the
same bad bytes are not reported again. Requests already classified keep the runtime they
started with. Runs as a lifespan-owned task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from gateway.config.loader import digest, parse_policy
from gateway.config.models import PolicyError, RoutingPolicy
from gateway.routing.runtime import RoutingRuntime, RuntimeHolder

logger = logging.getLogger(__name__)


ReloadObserver = Callable[[str, int], None]
"""Told `(result, generation)` per change seen: `applied` or `rejected`, and the
generation of the runtime routing afterwards."""


class PolicyWatcher:
    def __init__(
        self,
        path: Path,
        holder: RuntimeHolder,
        build: Callable[[RoutingPolicy], RoutingRuntime],
        *,
        loaded_digest: str,
        observer: ReloadObserver,
        interval_s: float = 1.0,
    ) -> None:
        """`loaded_digest` is the digest of the bytes the current runtime was built from."""
        self._path = path
        self._holder = holder
        self._build = build
        self._digest = loaded_digest
        self._observer = observer
        self._interval_s = interval_s
        self._unreadable = False

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check()

    async def check(self) -> bool:
        """Reload if the file changed; True when a new runtime was swapped in."""
        try:
            data = await asyncio.to_thread(self._path.read_bytes)
        except OSError as exc:
            if not self._unreadable:  # e.g. mid-rename by an editor or a ConfigMap update
                logger.warning(
                    "policy file %s unreadable, keeping the current policy: %s",
                    self._path,
                    exc.strerror or exc,
                )
            self._unreadable = True
            return False
        self._unreadable = False
        new_digest = digest(data)
        if new_digest == self._digest:
            return False
        self._digest = new_digest
        source = str(self._path)
        try:
            policy = parse_policy(data, source)
        except PolicyError as exc:  # the message names the file
            self._reject(str(exc))
            return False
        try:
            runtime = self._build(policy)
        except PolicyError as exc:
            self._reject(f"{source}: {exc}")
            return False
        self._holder.swap(runtime)
        logger.info("policy file %s applied (generation %d)", self._path, self._holder.generation)
        self._observer("applied", self._holder.generation)
        return True

    def _reject(self, problem: str) -> None:
        logger.error(
            "policy file rejected, still routing with policy generation %d: %s",
            self._holder.generation,
            problem,
        )
        self._observer("rejected", self._holder.generation)

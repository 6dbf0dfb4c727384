"""Hot reload of a policy file: poll, validate, build, swap; keep the last good.

Every `interval_s` the file is read and hashed (off the event loop); when the bytes
changed, they are validated and built into a new runtime, which replaces the current one
in a single assignment. A file that does not validate or build is rejected with one ERROR
log line naming the problem, and the last good runtime stays in force; the same bad bytes
are not reported again. Requests already under way keep the runtime they started with.
Runs as a lifespan-owned task.

`FileWatcher` does this for any policy document (routing, safety, tenants) given how to
parse and how to build it; `PolicyWatcher` is the routing policy's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from gateway.config.loader import digest, parse_policy
from gateway.config.models import PolicyError, RoutingPolicy
from gateway.routing.runtime import RoutingRuntime, RuntimeHolder

logger = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)


ReloadObserver = Callable[[str, int], None]
"""Told `(result, generation)` per change seen: `applied` or `rejected`, and the
generation of the runtime in force afterwards."""


class Holder(Protocol[R_contra]):
    """Holds the runtime in force; `swap` replaces it and bumps `generation`."""

    generation: int

    def swap(self, runtime: R_contra) -> None: ...


class FileWatcher(Generic[P, R]):
    def __init__(
        self,
        path: Path,
        holder: Holder[R],
        parse: Callable[[bytes, str], P],
        build: Callable[[P], R],
        *,
        loaded_digest: str,
        observer: ReloadObserver,
        interval_s: float = 1.0,
        what: str = "policy",
    ) -> None:
        """`loaded_digest` is the digest of the bytes the current runtime was built from;
        `what` names the file in log lines (`policy`, `safety policy`, `tenants`)."""
        self._path = path
        self._holder = holder
        self._parse = parse
        self._build = build
        self._digest = loaded_digest
        self._observer = observer
        self._interval_s = interval_s
        self._what = what
        self._unreadable = False

    @property
    def what(self) -> str:
        return self._what.replace(" ", "-")

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
                    "%s file %s unreadable, keeping the current %s: %s",
                    self._what,
                    self._path,
                    self._what,
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
            document = self._parse(data, source)
        except PolicyError as exc:  # the message names the file
            self._reject(str(exc))
            return False
        try:
            runtime = self._build(document)
        except PolicyError as exc:
            self._reject(f"{source}: {exc}")
            return False
        self._holder.swap(runtime)
        logger.info(
            "%s file %s applied (generation %d)", self._what, self._path, self._holder.generation
        )
        self._observer("applied", self._holder.generation)
        return True

    def _reject(self, problem: str) -> None:
        logger.error(
            "%s file rejected, still routing with %s generation %d: %s",
            self._what,
            self._what,
            self._holder.generation,
            problem,
        )
        self._observer("rejected", self._holder.generation)


class PolicyWatcher(FileWatcher[RoutingPolicy, RoutingRuntime]):
    """The routing policy file's watcher."""

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
        super().__init__(
            path,
            holder,
            parse_policy,
            build,
            loaded_digest=loaded_digest,
            observer=observer,
            interval_s=interval_s,
        )


T = TypeVar("T")


class Current(Generic[T]):
    """Holds the runtime in force for any policy document; swapped whole on reload."""

    def __init__(self, value: T) -> None:
        self._current = value
        self.generation = 1

    @property
    def current(self) -> T:
        return self._current

    def swap(self, runtime: T) -> None:
        self._current = runtime
        self.generation += 1

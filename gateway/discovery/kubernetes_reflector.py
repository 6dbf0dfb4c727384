"""Keep one pool's EndpointSlices current: list, then watch from the list's resourceVersion.

The client-go reflector's contract, kept small:
- a watch resumes from the last resourceVersion seen (events and bookmarks both advance it),
  so a dropped connection or a server-side watch timeout costs no relist;
- 410 Gone (history compacted, or lost in an API server restart) forgets the version and
  relists; the new list replaces the cache whole, so deletions missed meanwhile are seen;
- any other failure keeps the cache (the last known engines keep routing) and retries
  after an exponential backoff with jitter, reset by the next success.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from gateway.discovery.kubernetes_api import (
    KubernetesApiError,
    ResourceExpired,
    SliceApi,
    WatchEvent,
)
from gateway.discovery.kubernetes_config import PoolSource, WatchTiming
from gateway.discovery.kubernetes_health import SourceCounters, SourceHealth
from gateway.discovery.kubernetes_slices import SliceFormatError, SliceView, parse_slice

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

_SHORTEST_QUIET_WATCH_S = 1.0


class Backoff:
    """Delays that double from `initial_s` up to `max_s`, each drawn from [d/2, d]."""

    def __init__(self, initial_s: float, max_s: float, rng: random.Random) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._rng = rng
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self._max_s, self._initial_s * 2 ** min(self._attempt, 30))
        self._attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0


class SliceReflector:
    """One pool's slice cache. `run` owns it; readers call `slices` on the same loop."""

    def __init__(
        self,
        source: PoolSource,
        timing: WatchTiming,
        on_change: Callable[[], None],
        *,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self.source = source
        self.counters = SourceCounters()
        self._timing = timing
        self._on_change = on_change
        self._clock = clock
        self._rng = rng
        self._slices: dict[str, SliceView] = {}
        self._version: str | None = None

    def slices(self) -> list[SliceView]:
        return [self._slices[name] for name in sorted(self._slices)]

    def health(self) -> SourceHealth:
        return SourceHealth.of(
            self.source.name, self.counters, self._version, len(self._slices), self._clock()
        )

    async def run(self, api: SliceApi) -> None:
        """List and watch until cancelled; never raises an API error."""
        backoff = Backoff(self._timing.backoff_initial_s, self._timing.backoff_max_s, self._rng)
        failing = False
        while True:
            contact = self.counters.last_contact
            try:
                if self._version is None:
                    await self._list(api)
                    backoff.reset()
                productive = await self._watch(api)
                failing = False
                if productive:
                    backoff.reset()
                    continue
            except ResourceExpired as exc:
                self.counters.relists += 1
                self.counters.errors[exc.kind] += 1
                self._version = None
                logger.info("pool %s: resourceVersion expired, relisting", self.source.name)
            except KubernetesApiError as exc:
                self.counters.errors[exc.kind] += 1
                # One warning per outage (failures with no answer between them); the rest
                # at debug, so a long one does not flood.
                failing = failing and self.counters.last_contact == contact
                log = logger.debug if failing else logger.warning
                log("pool %s: Kubernetes API %s: %s", self.source.name, exc.kind, exc)
                failing = True
            await asyncio.sleep(backoff.next_delay())

    async def _list(self, api: SliceApi) -> None:
        listing = await api.list(self.source.namespace, self.source.selector)
        slices: dict[str, SliceView] = {}
        for raw in listing.items:
            view = self._parse(raw)
            if view is not None:
                slices[view.name] = view
        self._slices = slices
        self._version = listing.resource_version
        self.counters.lists += 1
        self.counters.listed = True
        self._contact()
        logger.info(
            "pool %s: listed %d slices at resourceVersion %s",
            self.source.name,
            len(slices),
            listing.resource_version,
        )
        self._on_change()

    async def _watch(self, api: SliceApi) -> bool:
        """One watch request, until the server ends it; False when it ended at once and
        empty (a proxy closing every stream would otherwise make a busy loop)."""
        assert self._version is not None
        timeout_s = round(self._timing.watch_timeout_s * (1 + self._rng.random()))
        self.counters.watches += 1
        delivered = False
        started = self._clock()
        try:
            async with api.watch(
                self.source.namespace, self.source.selector, self._version, timeout_s
            ) as stream:
                while (event := await stream.next()) is not None:
                    delivered = True
                    self.counters.watching = True
                    self._contact()
                    self._apply(event)
        finally:
            self.counters.watching = False
        self._contact()
        return delivered or self._clock() - started >= _SHORTEST_QUIET_WATCH_S

    def _apply(self, event: WatchEvent) -> None:
        self.counters.events[event.type] += 1
        if event.resource_version:
            self._version = event.resource_version
        if event.type == "BOOKMARK":
            return
        if event.type == "DELETED":
            name = _name_of(event)
            changed = name is not None and self._slices.pop(name, None) is not None
        elif event.type in ("ADDED", "MODIFIED"):
            view = self._parse(event.object)
            changed = view is not None and self._slices.get(view.name) != view
            if view is not None:
                self._slices[view.name] = view
        else:
            logger.debug("pool %s: ignoring watch event %s", self.source.name, event.type)
            changed = False
        if changed:
            self._on_change()

    def _parse(self, raw: object) -> SliceView | None:
        try:
            if not isinstance(raw, dict):
                raise SliceFormatError("not an object")
            return parse_slice(raw)
        except SliceFormatError as exc:
            self.counters.skipped_objects += 1
            logger.warning("pool %s: skipping an unreadable slice: %s", self.source.name, exc)
            return None

    def _contact(self) -> None:
        self.counters.last_contact = self._clock()


def _name_of(event: WatchEvent) -> str | None:
    metadata = event.object.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None

"""Counters and health of Kubernetes discovery, for `/readyz` and `/metrics`.

`SourceCounters` is written by one pool's reflector only (on the event loop thread);
readers get frozen snapshots. Counter label values are bounded: event types are the five
the watch protocol defines, error kinds the four of `kubernetes_api`, pools come from
configuration.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(slots=True)
class SourceCounters:
    """Totals since start for one pool, and when it last heard from the API server."""

    lists: int = 0
    relists: int = 0
    """Lists forced by 410 Gone (history compacted, or the server lost it in a restart)."""
    watches: int = 0
    events: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    skipped_objects: int = 0
    """Slices that could not be parsed and were left out."""
    listed: bool = False
    watching: bool = False
    last_contact: float | None = None
    """Clock time of the last successful list, watch event, bookmark or clean watch end."""


@dataclass(frozen=True, slots=True)
class SourceHealth:
    pool: str
    synced: bool
    """Listed at least once: its endpoint set is known."""
    watching: bool
    """A watch stream is open and has delivered at least one event or bookmark."""
    last_contact_age_s: float | None
    resource_version: str | None
    """Where the next watch resumes; None until listed, and after a 410 until relisted."""
    slices: int
    lists: int
    relists: int
    watches: int
    events: Mapping[str, int]
    errors: Mapping[str, int]
    skipped_objects: int

    @classmethod
    def of(
        cls, pool: str, counters: SourceCounters, version: str | None, slices: int, now: float
    ) -> SourceHealth:
        last = counters.last_contact
        return cls(
            pool=pool,
            synced=counters.listed,
            watching=counters.watching,
            last_contact_age_s=None if last is None else max(0.0, now - last),
            resource_version=version,
            slices=slices,
            lists=counters.lists,
            relists=counters.relists,
            watches=counters.watches,
            events=dict(counters.events),
            errors=dict(counters.errors),
            skipped_objects=counters.skipped_objects,
        )


@dataclass(frozen=True, slots=True)
class DiscoveryHealth:
    """A snapshot. `endpoints` counts engines by state (serving, terminating, not_ready)."""

    sources: tuple[SourceHealth, ...]
    endpoints: Mapping[str, int]
    stale_after_s: float

    @property
    def synced(self) -> bool:
        """Every pool has been listed once; before that the engine set is incomplete."""
        return all(source.synced for source in self.sources)

    @property
    def last_sync_age_s(self) -> float | None:
        """Age of the stalest pool's last answer from the API server; None before all have one."""
        ages = [source.last_contact_age_s for source in self.sources]
        if any(age is None for age in ages):
            return None
        return max(age for age in ages if age is not None)

    @property
    def healthy(self) -> bool:
        """Synced, and no pool has gone `stale_after_s` without an answer."""
        age = self.last_sync_age_s
        return self.synced and age is not None and age <= self.stale_after_s

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary for `/readyz`."""
        age = self.last_sync_age_s
        return {
            "source": "kubernetes",
            "synced": self.synced,
            "healthy": self.healthy,
            "last_sync_age_s": None if age is None else round(age, 3),
            "endpoints": dict(self.endpoints),
            "pools": {
                source.pool: {
                    "synced": source.synced,
                    "watching": source.watching,
                    "slices": source.slices,
                    "relists": source.relists,
                    "errors": dict(source.errors),
                }
                for source in self.sources
            },
        }

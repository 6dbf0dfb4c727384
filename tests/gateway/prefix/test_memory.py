"""What only the embedded index exposes: stats, staleness, its clock."""

from __future__ import annotations

import pytest

from gateway.prefix.memory import MemoryPrefixIndex
from tests.gateway.prefix.support import FakeClock

M = "model-a"


async def test_stats_count_entries_evictions_and_expirations() -> None:
    clock = FakeClock()
    index = MemoryPrefixIndex(capacity=3, ttl_s=10.0, clock=clock)
    await index.record("e1", M, [1, 2, 3, 4])
    await index.record("e2", M, [1])
    stats = index.stats()
    assert (stats.entries, stats.endpoints, stats.evictions, stats.expirations) == (4, 2, 1, 0)
    clock.now = 11.0
    assert await index.match(M, [1]) == {}  # drops the expired entries of both holders
    stats = index.stats()
    assert (stats.entries, stats.endpoints, stats.expirations) == (0, 0, 4)
    await index.record("e1", M, [9])
    assert index.stats().entries == 1
    assert not index.stats().remote_available


async def test_expiry_is_per_entry() -> None:
    clock = FakeClock()
    index = MemoryPrefixIndex(ttl_s=10.0, clock=clock)
    await index.record("e1", M, [1, 2])
    clock.now = 5.0
    await index.record("e2", M, [1, 2])
    clock.now = 12.0
    assert await index.match(M, [1, 2]) == {"e2": 2}


async def test_stale_lists_blocks_not_recorded_recently() -> None:
    clock = FakeClock()
    index = MemoryPrefixIndex(clock=clock)
    await index.record("e1", M, [1, 2])
    clock.now = 10.0
    await index.record("e1", M, [2])
    assert index.stale("e1", M, [1, 2, 3], max_age_s=5.0) == [1, 3]
    assert index.stale("e2", M, [1, 2], max_age_s=5.0) == [1, 2]
    assert index.stale("e1", "model-b", [2], max_age_s=5.0) == [2]


async def test_remove_and_clear_release_memory() -> None:
    index = MemoryPrefixIndex()
    await index.record("e1", M, [1, 2])
    await index.record("e1", "model-b", [1])
    await index.remove("e1", M, [1, 2])
    await index.clear("e1")
    assert index.stats().entries == 0
    assert index.stats().endpoints == 0
    assert not index._holders  # the inverted map shrinks with the LRUs


@pytest.mark.parametrize(
    ("capacity", "ttl_s"), [pytest.param(0, None, id="capacity"), pytest.param(1, 0, id="ttl")]
)
def test_rejects_bad_bounds(capacity: int, ttl_s: float | None) -> None:
    with pytest.raises(ValueError, match="must be"):
        MemoryPrefixIndex(capacity=capacity, ttl_s=ttl_s)

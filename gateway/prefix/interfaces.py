"""The prefix-locality index contract: which endpoint holds which leading blocks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class IndexStats:
    """A point-in-time view of an index for the metrics module (cheap, no I/O).

    `entries` and `endpoints` describe the in-process state (for a Redis index, its local
    write-through copy). The `remote_*` fields are zero for an index without a server.
    Counters are monotonic over the index's lifetime.
    """

    entries: int
    endpoints: int
    evictions: int = 0
    expirations: int = 0
    remote_available: bool = False
    remote_errors: int = 0
    fallback_matches: int = 0
    skipped_remote_writes: int = 0


class PrefixIndex(Protocol):
    """Endpoint → cached block hashes, per model; shared by every request of a process.

    Hashes are chained block hashes (see `gateway.prefix.hashing`): ints in [0, 2**64),
    listed from the prompt's first block on. `model` namespaces the entries (the hash seed
    already includes it); use the base model for LoRA requests and put the adapter in the
    seed. Implementations never raise for a lost backend: they degrade to local state.
    All methods are called from the event loop only; none blocks it.
    """

    async def match(self, model: str, hashes: Sequence[int]) -> dict[str, int]:
        """For each endpoint holding `hashes[0]`, how many leading blocks it holds.

        Endpoints holding no leading block are absent; counts are in [1, len(hashes)].
        """
        ...

    async def record(self, endpoint: str, model: str, hashes: Sequence[int]) -> None:
        """Note that `endpoint` now holds these blocks; refreshes their age.

        Recording touches the chain tail-first, so under capacity pressure an endpoint's
        chains lose their tails before their roots (as vLLM's own LRU does).
        """
        ...

    async def remove(self, endpoint: str, model: str, hashes: Sequence[int]) -> None:
        """Forget these blocks for `endpoint` (unknown hashes are ignored)."""
        ...

    async def clear(self, endpoint: str) -> None:
        """Forget everything about `endpoint`, in every model.

        Call it when an engine restarts, resets its prefix cache, or leaves the pool.
        """
        ...

    def stats(self) -> IndexStats: ...

    async def close(self) -> None:
        """Release connections; the index must not be used afterwards."""
        ...

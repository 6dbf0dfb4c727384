"""Engine events → the index, under the gateway's own hashes (no sockets here)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gateway.prefix.hashing import block_hashes, prefix_seed
from gateway.prefix.kv_tracker import KVEventTracker
from gateway.prefix.kv_wire import decode_message
from gateway.prefix.memory import MemoryPrefixIndex
from tests.gateway.prefix.support import FakeClock
from tests.gateway.prefix.vllm_frames import Event, cleared, encode_batch, frames, removed, stored

MODEL = "Qwen/Qwen2.5-7B-Instruct"
EP = "engine-0"
PROMPT = list(range(5000, 5064))  # four blocks of 16
SEED = prefix_seed(MODEL)
GATEWAY = block_hashes(PROMPT, seed=SEED)
# The engine's hashes are unrelated to the gateway's: any unique ids will do.
ENGINE = [901, 902, 903, 904]


class Feed:
    """A tracker over a memory index, fed batches with consecutive sequence numbers."""

    def __init__(
        self,
        *,
        ttl_s: float | None = None,
        max_tracked_blocks: int = 1000,
        refresh_interval_s: float = 30.0,
        lora_names: dict[int, str] | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.index = MemoryPrefixIndex(ttl_s=ttl_s, clock=self.clock)
        self.tracker = KVEventTracker(
            EP,
            self.index,
            model=MODEL,
            max_tracked_blocks=max_tracked_blocks,
            refresh_interval_s=refresh_interval_s,
            lora_names=lora_names,
            clock=self.clock,
        )
        self.seq = 0

    async def send(self, *events: Event, encoding: str = "map", seq: int | None = None) -> None:
        self.seq = self.seq + 1 if seq is None else seq
        await self.tracker.apply(decode_message(frames(self.seq, encode_batch(events, encoding))))

    async def held(self, hashes: Sequence[int] = GATEWAY, model: str = MODEL) -> int:
        return (await self.index.match(model, hashes)).get(EP, 0)


@pytest.mark.parametrize("encoding", ["array-v0.8", "array-v0.11", "array-lora-name", "map"])
async def test_stored_chain_matches_the_gateway_hashes_of_its_tokens(encoding: str) -> None:
    feed = Feed()
    await feed.send(stored(ENGINE[:2], None, PROMPT[:32]), encoding=encoding)
    assert await feed.held() == 2
    await feed.send(stored(ENGINE[2:], ENGINE[1], PROMPT[32:]), encoding=encoding)
    assert await feed.held() == 4
    assert feed.tracker.stats.stored_blocks == 4


async def test_bytes_engine_hashes() -> None:
    feed = Feed()
    engine = [bytes([n]) * 32 for n in range(4)]
    await feed.send(stored(engine[:1], None, PROMPT[:16]))
    await feed.send(stored(engine[1:], engine[0], PROMPT[16:]))
    assert await feed.held() == 4


@pytest.mark.parametrize(
    ("gone", "expected"),
    [
        pytest.param([904], 3, id="tail"),
        pytest.param([902], 1, id="middle"),
        pytest.param([901, 902, 903, 904], 0, id="all"),
    ],
)
async def test_removed_blocks_stop_matching(gone: list[int], expected: int) -> None:
    feed = Feed()
    await feed.send(stored(ENGINE, None, PROMPT))
    await feed.send(removed(gone))
    assert await feed.held() == expected
    assert feed.tracker.stats.removed_blocks == len(gone)
    assert feed.tracker.tracked_blocks == 4 - len(gone)


async def test_store_then_remove_in_one_batch_keeps_event_order() -> None:
    feed = Feed()
    await feed.send(stored(ENGINE, None, PROMPT), removed([903]), stored([905], 904, PROMPT[:16]))
    assert await feed.held() == 2


async def test_removing_unknown_blocks_is_counted() -> None:
    feed = Feed()
    await feed.send(removed([1, 2]))
    assert feed.tracker.stats.untracked_removals == 2


async def test_all_blocks_cleared_clears_the_endpoint() -> None:
    feed = Feed()
    await feed.send(stored(ENGINE, None, PROMPT))
    await feed.index.record("engine-1", MODEL, GATEWAY)
    await feed.send(cleared())
    assert await feed.index.match(MODEL, GATEWAY) == {"engine-1": 4}
    assert feed.tracker.tracked_blocks == 0
    # After a clear, old parents are unknown: their children cannot be placed.
    await feed.send(stored([905], 904, PROMPT[:16]))
    assert feed.tracker.stats.unknown_parent_blocks == 1


async def test_unknown_parent_is_skipped_and_counted() -> None:
    feed = Feed()
    await feed.send(stored(ENGINE[2:], 777, PROMPT[32:]))
    assert feed.index.stats().entries == 0
    assert feed.tracker.stats.unknown_parent_blocks == 2


@pytest.mark.parametrize(
    ("next_seq", "gap"),
    [
        pytest.param(2, False, id="consecutive"),
        pytest.param(4, True, id="missed-messages"),
        pytest.param(0, True, id="publisher-restarted"),
    ],
)
async def test_sequence_gaps_clear_the_endpoint(next_seq: int, gap: bool) -> None:
    feed = Feed()
    await feed.send(stored(ENGINE, None, PROMPT), seq=1)
    await feed.send(seq=next_seq)
    assert feed.tracker.stats.gaps == int(gap)
    assert await feed.held() == (0 if gap else 4)


async def test_first_message_is_never_a_gap() -> None:
    feed = Feed()
    await feed.send(stored(ENGINE, None, PROMPT), seq=1234)
    assert feed.tracker.stats.gaps == 0
    assert await feed.held() == 4


async def test_lora_blocks_use_the_adapter_seed() -> None:
    feed = Feed(lora_names={7: "sql-lora"})
    await feed.send(stored(ENGINE[:2], None, PROMPT[:32], lora_name="chat-lora"))
    await feed.send(stored([911, 912], None, PROMPT[:32], lora_id=7), encoding="array-v0.11")
    await feed.send(stored([921], None, PROMPT[:16], lora_id=8), encoding="array-v0.11")
    for lora in ("chat-lora", "sql-lora"):
        assert await feed.held(block_hashes(PROMPT, seed=prefix_seed(MODEL, lora))) == 2
    assert await feed.held() == 0
    assert feed.tracker.stats.unknown_lora_blocks == 1


@pytest.mark.parametrize(
    ("extra_keys", "hashable"),
    [
        pytest.param([None, None], 2, id="none"),
        pytest.param([["sql-lora"], ["sql-lora"]], 2, id="lora-name-only"),
        pytest.param([["sql-lora", "tenant-salt"], ["sql-lora"]], 0, id="salted-first-block"),
        pytest.param([["sql-lora"], ["sql-lora", ["mm-hash", 0]]], 1, id="multimodal-second"),
    ],
)
async def test_blocks_with_non_token_hash_inputs_are_skipped(
    extra_keys: list[object], hashable: int
) -> None:
    feed = Feed()
    event = stored(ENGINE[:2], None, PROMPT[:32], lora_name="sql-lora", extra_keys=extra_keys)
    await feed.send(event)
    assert await feed.held(block_hashes(PROMPT, seed=prefix_seed(MODEL, "sql-lora"))) == hashable
    assert feed.tracker.stats.unhashable_blocks == 2 - hashable


@pytest.mark.parametrize(
    ("event", "counter"),
    [
        pytest.param(stored(ENGINE, None, PROMPT, medium="CPU"), "other_medium_events", id="cpu"),
        pytest.param(
            stored(ENGINE[:2], None, PROMPT, block_size=32),
            "block_size_mismatches",
            id="block-size",
        ),
    ],
)
async def test_events_the_gateway_cannot_use_are_counted(event: Event, counter: str) -> None:
    feed = Feed()
    await feed.send(event)
    assert feed.index.stats().entries == 0
    assert getattr(feed.tracker.stats, counter) == 1


async def test_cpu_tier_removals_do_not_remove_gpu_blocks() -> None:
    feed = Feed()
    await feed.send(stored(ENGINE, None, PROMPT))
    await feed.send(removed(ENGINE, medium="CPU"))
    assert await feed.held() == 4


async def test_tracked_blocks_are_bounded() -> None:
    feed = Feed(max_tracked_blocks=3)
    await feed.send(stored(ENGINE, None, PROMPT))
    assert feed.tracker.tracked_blocks == 3
    await feed.send(removed([901]))  # forgotten: cannot be translated any more
    assert feed.tracker.stats.untracked_removals == 1


async def test_storing_children_refreshes_a_prefix_that_stays_cached() -> None:
    feed = Feed(ttl_s=100.0, refresh_interval_s=30.0)
    await feed.send(stored(ENGINE[:2], None, PROMPT[:32]))
    feed.clock.now = 90.0
    await feed.send(stored(ENGINE[2:3], ENGINE[1], PROMPT[32:48]))
    feed.clock.now = 150.0  # the root was stored at 0 and never again, yet it still matches
    assert await feed.held() == 3
    feed.clock.now = 191.0
    assert await feed.held() == 0

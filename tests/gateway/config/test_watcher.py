from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from gateway.config.loader import read_policy
from gateway.config.models import RoutingPolicy
from gateway.config.watcher import PolicyWatcher
from gateway.plugins.base import PluginDeps
from gateway.plugins.registry import builtin_registry
from gateway.prefix.memory import MemoryPrefixIndex
from gateway.routing.runtime import RoutingRuntime, RuntimeHolder, build_runtime
from tests.gateway.config.policies import as_yaml, default_document


class _Reloads:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.applied = asyncio.Event()

    def __call__(self, result: str, generation: int) -> None:
        self.seen.append((result, generation))
        if result == "applied":
            self.applied.set()


Setup = tuple[Path, RuntimeHolder, PolicyWatcher, _Reloads]


def _build(policy: RoutingPolicy) -> RoutingRuntime:
    return build_runtime(policy, builtin_registry(), PluginDeps(MemoryPrefixIndex(), 16))


def _document(threshold: int) -> bytes:
    document = default_document()
    classification = document["classification"]
    assert isinstance(classification, dict)
    classification["longContext"]["promptTokensAbove"] = threshold
    return as_yaml(document)


def _with_plugin(spec: dict[str, object]) -> bytes:
    document = default_document()
    plugins = document["plugins"]
    assert isinstance(plugins, list)
    plugins.append(spec)
    return as_yaml(document)


def _threshold(runtime: RoutingRuntime) -> int:
    rule = runtime.policy.classification.long_context
    assert rule is not None
    return rule.prompt_tokens_above


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    path = tmp_path / "routing.yaml"
    path.write_bytes(_document(100))
    policy, digest = read_policy(path)
    holder = RuntimeHolder(_build(policy))
    reloads = _Reloads()
    watcher = PolicyWatcher(
        path, holder, _build, loaded_digest=digest, observer=reloads, interval_s=0.01
    )
    return path, holder, watcher, reloads


async def test_unchanged_file_is_not_rebuilt(
    setup: Setup,
) -> None:
    path, holder, watcher, reloads = setup
    path.touch()
    assert not await watcher.check()
    assert holder.generation == 1
    assert reloads.seen == []


async def test_a_valid_change_is_swapped_in_and_old_holders_keep_theirs(
    setup: Setup,
) -> None:
    path, holder, watcher, reloads = setup
    in_flight = holder.current  # what a running request holds
    path.write_bytes(_document(200))
    assert await watcher.check()
    assert (holder.generation, _threshold(holder.current)) == (2, 200)
    assert _threshold(in_flight) == 100
    assert reloads.seen == [("applied", 2)]


BAD_CHANGES = [
    pytest.param(b"plugins: [", "not valid YAML", id="yaml"),
    pytest.param(
        _document(100).replace(b"max-score-picker", b"max-score-pickr"), "unknown", id="ref"
    ),
    pytest.param(
        _with_plugin({"name": "mystery", "type": "no-such-plugin"}),
        "unknown plugin type 'no-such-plugin'",
        id="unknown-type",
    ),
    pytest.param(
        _document(100).replace(b"loadSlackRatio: 0.5", b"loadSlackRatio: -1"),
        "loadSlackRatio",
        id="bad-parameter",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_CHANGES)
async def test_a_bad_change_is_rejected_once_and_the_last_good_keeps_routing(
    setup: Setup,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    message: str,
) -> None:
    path, holder, watcher, reloads = setup
    good = holder.current
    path.write_bytes(data)
    with caplog.at_level(logging.ERROR, logger="gateway.config.watcher"):
        assert not await watcher.check()
        assert not await watcher.check()  # the same bad bytes: not reported again
    assert holder.current is good
    assert reloads.seen == [("rejected", 1)]
    [record] = caplog.records
    assert "policy file rejected, still routing with policy generation 1" in record.getMessage()
    assert message in record.getMessage()
    path.write_bytes(_document(300))  # fixed: applied
    assert await watcher.check()
    assert _threshold(holder.current) == 300


async def test_a_vanished_file_keeps_the_policy(
    setup: Setup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, holder, watcher, _ = setup
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="gateway.config.watcher"):
        assert not await watcher.check()
        assert not await watcher.check()
    assert len(caplog.records) == 1
    assert holder.generation == 1


async def test_run_polls_until_cancelled(
    setup: Setup,
) -> None:
    path, holder, watcher, reloads = setup
    task = asyncio.create_task(watcher.run())
    path.write_bytes(_document(400))
    async with asyncio.timeout(5):
        await reloads.applied.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _threshold(holder.current) == 400

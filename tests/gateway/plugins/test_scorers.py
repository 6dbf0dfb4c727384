from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping

import pytest

from gateway.plugins.base import NoParams
from gateway.plugins.scorers.in_flight import InFlightScorer
from gateway.plugins.scorers.kv_cache_usage import KVCacheUsageScorer
from gateway.plugins.scorers.lora_affinity import LoraAffinityScorer
from gateway.plugins.scorers.prefix_cache import PrefixCacheScorer
from gateway.plugins.scorers.queue_depth import QueueDepthScorer
from gateway.plugins.scorers.recent_requests import RecentRequestsScorer
from gateway.plugins.scorers.session_affinity import SessionAffinityScorer
from gateway.routing.interfaces import Scorer
from gateway.routing.snapshot import EndpointSnapshot
from tests.gateway.plugins.pool import context, deps, snap

THREE = [snap("a"), snap("b"), snap("c")]


def _prefix(**parameters: object) -> Scorer:
    return PrefixCacheScorer.build(parameters, deps())


@pytest.mark.parametrize(
    ("parameters", "tokens", "matches", "candidates", "expected"),
    [
        pytest.param({}, 161, {"a": 10, "b": 5}, THREE, [1.0, 0.5, 0.0], id="ratio"),
        pytest.param(
            {}, 160, {"a": 10, "b": 3}, THREE, [1.0, 3 / 9, 0.0], id="last-token-never-reused"
        ),
        pytest.param({}, 161, {}, THREE, [0.0, 0.0, 0.0], id="no-match"),
        pytest.param({}, 10, {"a": 1}, THREE, [0.0, 0.0, 0.0], id="no-full-block"),
        pytest.param(
            {},
            161,
            {"a": 10},
            [snap("a", in_flight=4), snap("b")],
            [0.5, 0.0],
            id="holder-with-slack-more-requests-keeps-half",
        ),
        pytest.param(
            {},
            161,
            {"a": 10, "b": 10},
            [snap("a", in_flight=12), snap("b", in_flight=0)],
            [0.25, 1.0],
            id="busier-holder-keeps-less",
        ),
        pytest.param(
            {},
            161,
            {"a": 10},
            [snap("a", waiting=2, running=2), snap("b")],
            [0.5, 0.0],
            id="load-counts-engine-reported-requests",
        ),
        pytest.param(
            {},
            161,
            {"a": 10},
            [snap("a", in_flight=50), snap("b", in_flight=40)],
            [0.5, 0.0],
            id="slack-grows-with-load",
        ),
        pytest.param(
            {"loadSlack": None},
            161,
            {"a": 10},
            [snap("a", in_flight=100), snap("b")],
            [1.0, 0.0],
            id="unbounded",
        ),
    ],
)
def test_prefix_cache_scorer(
    parameters: dict[str, object],
    tokens: int,
    matches: Mapping[str, int],
    candidates: list[EndpointSnapshot],
    expected: list[float],
) -> None:
    scores = _prefix(**parameters).score(context(tokens=tokens, matches=matches), candidates)
    assert scores == pytest.approx(expected)


@pytest.mark.parametrize(
    ("scorer", "candidates", "expected"),
    [
        pytest.param(
            QueueDepthScorer.build({}, deps()),
            [snap("a", waiting=0), snap("b", waiting=1), snap("c", waiting=3)],
            [1.0, 0.5, 0.25],
            id="queue-one-more-waiting-halves",
        ),
        pytest.param(
            QueueDepthScorer.build({}, deps()),
            [snap("a"), snap("b", waiting=2), snap("c", waiting=2)],
            [1.0, 1.0, 1.0],
            id="queue-unknown-counts-as-shortest",
        ),
        pytest.param(
            QueueDepthScorer.build({}, deps()), THREE, [1.0, 1.0, 1.0], id="queue-all-unknown"
        ),
        pytest.param(
            QueueDepthScorer.build({"slack": 2, "slackRatio": 0}, deps()),
            [snap("a", waiting=10), snap("b", waiting=12)],
            [1.0, 0.5],
            id="queue-parameters",
        ),
        pytest.param(
            InFlightScorer.build({}, deps()),
            [snap("a", in_flight=0), snap("b", in_flight=4), snap("c", in_flight=12)],
            [1.0, 0.5, 0.25],
            id="in-flight",
        ),
        pytest.param(
            InFlightScorer.build({}, deps()),
            [snap("a", in_flight=3), snap("b", in_flight=3)],
            [1.0, 1.0],
            id="in-flight-equal",
        ),
        pytest.param(
            InFlightScorer.build({"load": True}, deps()),
            [snap("a", in_flight=0, running=4), snap("b", in_flight=1)],
            [1 - 3 / 7, 1.0],
            id="in-flight-with-reported-load",
        ),
        pytest.param(
            KVCacheUsageScorer(NoParams(), deps()),
            [snap("a", kv=0.2), snap("b"), snap("c", kv=0.6)],
            [0.8, 0.6, 0.4],
            id="kv-unknown-gets-the-mean",
        ),
        pytest.param(
            KVCacheUsageScorer(NoParams(), deps()), THREE, [1.0, 1.0, 1.0], id="kv-all-unknown"
        ),
        pytest.param(
            LoraAffinityScorer.build({}, deps()),
            [snap("a"), snap("b")],
            [1.0, 1.0],
            id="lora-base-model-no-opinion",
        ),
    ],
)
def test_load_scorers(
    scorer: Scorer, candidates: list[EndpointSnapshot], expected: list[float]
) -> None:
    assert scorer.score(context(), candidates) == pytest.approx(expected)


def test_lora_affinity_prefers_active_then_room() -> None:
    candidates = [
        snap("active", adapters="ad", active="ad", max_loras=2),
        snap("room", adapters="ad", active="x", max_loras=2),
        snap("full", adapters="ad", active="x y", max_loras=2),
        snap("unknown", adapters="ad"),
    ]
    scores = LoraAffinityScorer.build({"roomScore": 0.3}, deps()).score(
        context(model="ad"), candidates
    )
    assert scores == [1.0, 0.3, 0.0, 0.3]


def test_session_affinity_is_one_engine_per_session_whatever_the_order() -> None:
    scorer = SessionAffinityScorer(NoParams(), deps())
    pool = [snap(f"e{i}") for i in range(5)]
    for session in ("s1", "s2", "conversation-42"):
        chosen = set()
        for order in itertools.permutations(pool):
            scores = scorer.score(context(session=session), order)
            assert sorted(scores) == [0, 0, 0, 0, 1.0]
            chosen.add(order[scores.index(1.0)].id)
        assert len(chosen) == 1


def test_session_affinity_moves_only_the_sessions_of_a_removed_engine() -> None:
    scorer = SessionAffinityScorer(NoParams(), deps())
    pool = [snap(f"e{i}") for i in range(4)]

    def owner(session: str, candidates: list[EndpointSnapshot]) -> str:
        scores = scorer.score(context(session=session), candidates)
        return candidates[scores.index(1.0)].id

    sessions = [f"s{i}" for i in range(200)]
    before = {s: owner(s, pool) for s in sessions}
    after = {s: owner(s, pool[1:]) for s in sessions}
    moved = {s for s in sessions if before[s] != after[s]}
    assert moved == {s for s in sessions if before[s] == "e0"}
    assert len(set(before.values())) == 4  # every engine owns some sessions


def test_session_affinity_without_a_session_has_no_opinion() -> None:
    scores = SessionAffinityScorer(NoParams(), deps()).score(context(), THREE)
    assert scores == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("recent", "expected"),
    [
        pytest.param([0.0, 1.0, 3.0], [1.0, 0.5, 0.25], id="one-request-of-slack"),
        pytest.param([40.0, 50.0], [1.0, 0.5], id="slack-grows-with-share"),
        pytest.param([2.0, 2.0], [1.0, 1.0], id="equal"),
    ],
)
def test_recent_requests_scorer(recent: list[float], expected: list[float]) -> None:
    candidates = [
        dataclasses.replace(snap(f"e{i}"), recent_requests=count) for i, count in enumerate(recent)
    ]
    scores = RecentRequestsScorer.build({}, deps()).score(context(), candidates)
    assert scores == pytest.approx(expected)

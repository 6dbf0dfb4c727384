from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import pytest

from loadtests.bench.trace import TraceRecord
from loadtests.workloads.interfaces import RunSpec
from loadtests.workloads.text import TextSource
from tests.loadtests.workloads.helpers import common_prefix, messages_of, prompt_ids, records

GROUPS = 6
QUESTIONS = 4
PREFIX = 6000  # the default
QUESTION = 1000  # the default


@pytest.fixture(scope="module")
def trace(text: TextSource) -> list[TraceRecord]:
    run = RunSpec(seed=11, rate=5.0)
    return records(text, "shared-prefix", run, groups=GROUPS, questions=QUESTIONS)


def by_group(trace: list[TraceRecord]) -> dict[str | None, list[TraceRecord]]:
    groups: dict[str | None, list[TraceRecord]] = defaultdict(list)
    for record in trace:
        groups[record.group].append(record)
    return groups


def test_every_group_asks_every_question_once(trace: list[TraceRecord]) -> None:
    assert len(trace) == GROUPS * QUESTIONS
    assert Counter(r.group for r in trace) == {f"g{g}": QUESTIONS for g in range(GROUPS)}
    assert all(r.tag == "shared_prefix" for r in trace)


def test_groups_interleave_in_arrival_order(trace: list[TraceRecord]) -> None:
    runs = sum(1 for a, b in itertools.pairwise(trace) if a.group != b.group)
    assert runs > GROUPS  # not one group after another
    offsets = [r.offset for r in trace]
    assert offsets == sorted(offsets)


def test_a_group_shares_its_prefix_then_differs(trace: list[TraceRecord], text: TextSource) -> None:
    for group in by_group(trace).values():
        first, *others = [prompt_ids(text, r) for r in group]
        for other in others:
            shared = common_prefix(first, other)
            # The system turn (prefix + a few template tokens) is shared, the question is not.
            assert PREFIX <= shared < PREFIX + 16


def test_different_groups_share_no_block(trace: list[TraceRecord], text: TextSource) -> None:
    firsts = [prompt_ids(text, group[0]) for group in by_group(trace).values()]
    for i, a in enumerate(firsts):
        for b in firsts[i + 1 :]:
            assert common_prefix(a, b) < 16


def test_prefix_and_question_lengths(trace: list[TraceRecord], text: TextSource) -> None:
    for record in trace:
        system, user = messages_of(record)
        assert (system["role"], user["role"]) == ("system", "user")
        assert text.count(system["content"]) == PREFIX
        assert text.count(user["content"]) == QUESTION
        max_tokens = record.body["max_tokens"]
        assert isinstance(max_tokens, int)
        assert 100 <= max_tokens <= 200
        assert record.body["ignore_eos"] is True


def test_prefix_in_the_user_turn(text: TextSource) -> None:
    run = RunSpec(seed=2, rate=5.0)
    trace = records(
        text, "shared-prefix", run, groups=2, questions=3, prefix_tokens=500, prefix_role="user"
    )
    for group in by_group(trace).values():
        first, *others = [prompt_ids(text, r) for r in group]
        assert all(500 <= common_prefix(first, other) < 500 + 16 for other in others)
        assert all(len(messages_of(r)) == 1 for r in group)


def test_count_cuts_the_trace_short(text: TextSource) -> None:
    run = RunSpec(seed=1, rate=5.0, count=7)
    assert len(records(text, "shared-prefix", run, groups=3, prefix_tokens=50)) == 7


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"groups": 0}, id="no-groups"),
        pytest.param({"output_min": 300}, id="output-min-above-max"),
        pytest.param({"prefix_role": "assistant"}, id="bad-role"),
    ],
)
def test_bad_parameters_are_rejected(text: TextSource, params: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"groups|output|prefix_role"):
        records(text, "shared-prefix", RunSpec(), **params)

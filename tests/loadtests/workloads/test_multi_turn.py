from __future__ import annotations

import itertools
import statistics
from collections import defaultdict

import pytest

from gateway.tokenize import get_chat_template
from loadtests.bench.trace import TraceRecord
from loadtests.workloads.interfaces import RunSpec
from loadtests.workloads.text import TextSource
from tests.loadtests.workloads.helpers import gaps, messages_of, records

SESSIONS = 30
TURNS = 4


@pytest.fixture(scope="module")
def trace(text: TextSource) -> list[TraceRecord]:
    run = RunSpec(seed=5, rate=20.0)
    return records(
        text, "multi-turn", run, sessions=SESSIONS, turns=TURNS, system_tokens=300, think_time=2
    )


def sessions(trace: list[TraceRecord]) -> dict[str | None, list[TraceRecord]]:
    grouped: dict[str | None, list[TraceRecord]] = defaultdict(list)
    for record in trace:
        grouped[record.session].append(record)
    return grouped


def test_every_session_sends_every_turn(trace: list[TraceRecord]) -> None:
    assert len(trace) == SESSIONS * TURNS
    grouped = sessions(trace)
    assert len(grouped) == SESSIONS
    assert all(len(turns) == TURNS for turns in grouped.values())
    assert [r.offset for r in trace] == sorted(r.offset for r in trace)


def test_session_header_names_the_session(trace: list[TraceRecord]) -> None:
    for record in trace:
        assert record.headers == {"x-session-id": record.session}


def test_one_system_prompt_for_all_sessions(trace: list[TraceRecord], text: TextSource) -> None:
    systems = {messages_of(r)[0]["content"] for r in trace}
    assert len(systems) == 1
    assert text.count(systems.pop()) == 300


def test_each_turn_resends_the_previous_prompt_and_reply(
    trace: list[TraceRecord], text: TextSource
) -> None:
    template = get_chat_template("chatml")
    for turns in sessions(trace).values():
        for previous, current in itertools.pairwise(turns):
            before, after = messages_of(previous), messages_of(current)
            assert list(after[: len(before)]) == list(before)
            reply, question = after[len(before) :]
            assert (reply["role"], question["role"]) == ("assistant", "user")
            assert text.count(reply["content"]) == previous.body["max_tokens"]
            assert 50 <= text.count(question["content"]) <= 300
            rendered_before = template.render(list(before))
            assert template.render(list(after)).startswith(rendered_before + reply["content"])


def test_turns_of_a_session_are_spaced_by_think_time(trace: list[TraceRecord]) -> None:
    spacing = [gap for turns in sessions(trace).values() for gap in gaps([r.offset for r in turns])]
    assert statistics.fmean(spacing) == pytest.approx(2.0, rel=0.35)


def test_count_and_duration_bound_the_trace(text: TextSource) -> None:
    run = RunSpec(seed=1, rate=10.0, duration=3.0)
    trace = records(text, "multi-turn", run, sessions=50, system_tokens=20)
    assert trace
    assert all(r.offset <= 3.0 for r in trace)
    assert len(trace) < 50 * 5

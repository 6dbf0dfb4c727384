from __future__ import annotations

from collections import Counter

import pytest

from loadtests.bench.trace import TraceRecord
from loadtests.workloads.interfaces import RunSpec
from loadtests.workloads.text import TextSource
from tests.loadtests.workloads.helpers import messages_of, records

COUNT = 3000
SMALL_DOCS = {"doc_min": 100, "doc_max": 300, "batch_min": 50, "batch_max": 100}


@pytest.fixture(scope="module")
def trace(text: TextSource) -> list[TraceRecord]:
    return records(text, "mixed", RunSpec(seed=9, rate=50.0, count=COUNT), **SMALL_DOCS)


def test_class_proportions_follow_the_weights(trace: list[TraceRecord]) -> None:
    shares = Counter(r.tag for r in trace)
    assert sum(shares.values()) == COUNT
    for tag, weight in (("chat", 0.7), ("long_context", 0.2), ("batch", 0.1)):
        assert shares[tag] / COUNT == pytest.approx(weight, abs=0.03)


def test_document_popularity_is_zipf(trace: list[TraceRecord]) -> None:
    asked = Counter(r.group for r in trace if r.tag == "long_context")
    ranked = [name for name, _ in asked.most_common()]
    assert ranked[0] == "doc0"
    assert asked["doc0"] > 1.4 * asked["doc1"]  # expected 2× for zipf=1
    assert asked["doc1"] > asked["doc9"]
    assert len(asked) > 10  # the tail is asked about too


def test_questions_about_a_document_share_it(trace: list[TraceRecord]) -> None:
    documents: dict[str | None, set[str]] = {}
    for record in trace:
        if record.tag == "long_context":
            (user,) = messages_of(record)
            documents.setdefault(record.group, set()).add(user["content"].split("\n\n")[0])
    assert all(len(texts) == 1 for texts in documents.values())


def test_batch_is_low_priority_and_marked(trace: list[TraceRecord]) -> None:
    for record in trace:
        if record.tag == "batch":
            assert record.body["priority"] == 10
            assert record.headers == {"x-kvgate-class": "batch"}
        else:
            assert "priority" not in record.body
            assert record.headers == {}


def test_default_documents_are_long(text: TextSource) -> None:
    trace = records(
        text,
        "mixed",
        RunSpec(seed=3, rate=5.0, count=8),
        long_weight=1,
        chat_weight=0,
        batch_weight=0,
    )
    for record in trace:
        (user,) = messages_of(record)
        assert 8000 <= text.count(user["content"]) <= 30000 + 200


def test_batch_priority_zero_leaves_the_field_out(text: TextSource) -> None:
    run = RunSpec(seed=3, rate=5.0, count=5)
    params = {"batch_weight": 1, "chat_weight": 0, "long_weight": 0, "batch_priority": 0}
    trace = records(text, "mixed", run, batch_min=10, batch_max=20, **params)
    assert all("priority" not in r.body for r in trace)


def test_mixed_needs_a_bound(text: TextSource) -> None:
    with pytest.raises(ValueError, match="endless"):
        records(text, "mixed", RunSpec(rate=1.0))

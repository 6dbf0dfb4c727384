from __future__ import annotations

import pytest

from loadtests.bench.trace import COMPLETIONS_PATH
from loadtests.workloads.interfaces import RunSpec
from loadtests.workloads.text import TextSource
from tests.loadtests.workloads.helpers import prompt_ids, records

BLOCK = 16


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_no_two_prompts_share_their_first_block(text: TextSource, api: str) -> None:
    run = RunSpec(seed=8, rate=20.0, count=400)
    trace = records(text, "no-reuse", run, api=api, prompt_min=40, prompt_max=120)
    firsts = [tuple(prompt_ids(text, r)[:BLOCK]) for r in trace]
    assert len(set(firsts)) == len(firsts)


def test_prompt_lengths_are_in_range(text: TextSource) -> None:
    run = RunSpec(seed=8, rate=20.0, count=50)
    for record in records(text, "no-reuse", run, api="completions"):
        prompt = record.body["prompt"]
        assert isinstance(prompt, str)
        assert 200 <= text.count(prompt) <= 2000
        assert record.path == COMPLETIONS_PATH

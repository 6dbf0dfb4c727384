from __future__ import annotations

import json
import random

import pytest

from gateway.tokenize import load_tokenizer
from loadtests.sim.output import (
    OutputLengthDist,
    OutputPlanner,
    OutputRequest,
    OutputSpecError,
    default_max_tokens,
    incremental_pieces,
)

TOKENIZER = load_tokenizer("qwen2.5")
EOS = TOKENIZER.eos_token_id


def planner(spec: str = "max") -> OutputPlanner:
    return OutputPlanner(TOKENIZER, length_dist=OutputLengthDist.parse(spec))


def request(**fields: object) -> OutputRequest:
    base: dict[str, object] = {"prompt_token_ids": [1, 2, 3], "max_tokens": 50, "seed": 3}
    return OutputRequest(**{**base, **fields})  # type: ignore[arg-type]


def test_default_length_is_max_tokens_and_text_decodes_to_the_tokens() -> None:
    plan = planner().plan(request())
    assert len(plan.token_ids) == 50
    assert plan.finish_reason == "length"
    assert plan.stop_reason is None
    assert TOKENIZER.decode(plan.token_ids) == plan.text == "".join(plan.pieces)
    assert [json.loads(e) for e in plan.escaped_pieces] == list(plan.pieces)
    assert all(piece for piece in plan.pieces)  # filler tokens are whole words
    assert plan.text.split()[0][0].isupper()


def test_plans_are_deterministic_per_seed() -> None:
    assert planner().plan(request()) == planner().plan(request())
    assert planner().plan(request()).text != planner().plan(request(seed=4)).text


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("max", OutputLengthDist(), id="max"),
        pytest.param("fixed:7", OutputLengthDist("fixed", 7, 7), id="fixed"),
        pytest.param("uniform:2:9", OutputLengthDist("uniform", 2, 9), id="uniform"),
        pytest.param("geometric:0.1", OutputLengthDist("geometric", 0.1, 0.1), id="geometric"),
    ],
)
def test_length_specs_parse(spec: str, expected: OutputLengthDist) -> None:
    assert OutputLengthDist.parse(spec) == expected


@pytest.mark.parametrize("spec", ["", "fixed", "fixed:0", "uniform:5:2", "geometric:2", "x:1"])
def test_bad_length_specs_raise(spec: str) -> None:
    with pytest.raises(OutputSpecError):
        OutputLengthDist.parse(spec)


def test_sampled_lengths_stay_in_range() -> None:
    rng = random.Random(0)
    uniform = OutputLengthDist.parse("uniform:3:5")
    assert {uniform.sample(rng) for _ in range(200)} == {3, 4, 5}
    geometric = [OutputLengthDist.parse("geometric:0.5").sample(rng) for _ in range(200)]
    assert min(n for n in geometric if n is not None) >= 1


def test_eos_finishes_with_stop_and_an_eos_token_without_text() -> None:
    plan = planner("fixed:10").plan(request())
    assert plan.finish_reason == "stop"
    assert plan.stop_reason is None
    assert len(plan.token_ids) == 10
    assert plan.token_ids[-1] == EOS
    assert plan.pieces[-1] == ""


def test_eos_beyond_max_tokens_finishes_with_length() -> None:
    plan = planner("fixed:80").plan(request())
    assert (len(plan.token_ids), plan.finish_reason) == (50, "length")


def test_min_tokens_holds_eos_back_and_ignore_eos_disables_it() -> None:
    assert len(planner("fixed:5").plan(request(min_tokens=20)).token_ids) == 21
    ignored = planner("fixed:5").plan(request(ignore_eos=True))
    assert (len(ignored.token_ids), ignored.finish_reason) == (50, "length")


def test_stop_string_truncates_text_and_tokens() -> None:
    full = planner().plan(request())
    stop = full.text.split()[4]
    cut = planner().plan(request(stop=("zzz-never", stop)))
    assert cut.finish_reason == "stop"
    assert cut.stop_reason == stop
    assert cut.text == full.text[: full.text.index(stop)]
    assert stop not in cut.text
    assert len(cut.token_ids) < len(full.token_ids)
    assert cut.token_ids == full.token_ids[: len(cut.token_ids)]


def test_stop_strings_only_count_after_min_tokens() -> None:
    full = planner().plan(request())
    first_word = full.text.split()[0]
    late = planner().plan(request(stop=(first_word,), min_tokens=30))
    assert late.text.startswith(full.text[: full.text.index(first_word) + len(first_word)])
    assert len(late.token_ids) > 30 or late.finish_reason == "length"


def test_echo_repeats_the_given_tokens() -> None:
    source = TOKENIZER.encode("to be or not to be")
    plan = planner().plan(request(echo_token_ids=source, max_tokens=12))
    assert plan.token_ids == tuple((source * 2)[:12])
    assert plan.text == TOKENIZER.decode(plan.token_ids)


def test_incremental_pieces_never_split_a_character() -> None:
    text = "naïve 日本語 🦜🦜 emoji ✓"
    ids = TOKENIZER.encode(text)
    pieces = incremental_pieces(TOKENIZER, ids)
    assert len(pieces) == len(ids)
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    single = [TOKENIZER.decode([token]) for token in ids]
    assert any("\ufffd" in piece for piece in single)  # the case that needs accumulation


def test_default_max_tokens() -> None:
    assert default_max_tokens(32768, 100) == 256
    assert default_max_tokens(300, 100) == 200

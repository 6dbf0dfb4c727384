from __future__ import annotations

import io

import pytest

from loadtests.bench.trace import write_lines
from loadtests.workloads.interfaces import RunSpec
from loadtests.workloads.multi_turn import MultiTurn
from loadtests.workloads.params import parse_overrides
from loadtests.workloads.registry import WORKLOADS, create, describe, generate
from loadtests.workloads.shared_prefix import SharedPrefix
from loadtests.workloads.text import TextSource

# Small sizes so every workload is quick to generate.
SMALL: dict[str, dict[str, str]] = {
    "shared-prefix": {"groups": "4", "questions": "3", "prefix_tokens": "200"},
    "multi-turn": {"sessions": "5", "turns": "3", "system_tokens": "100"},
    "mixed": {"doc_min": "100", "doc_max": "200", "batch_min": "50", "batch_max": "80"},
    "no-reuse": {"prompt_min": "50", "prompt_max": "100"},
    "overhead": {},
}


def trace_text(text: TextSource, name: str, seed: int) -> str:
    out = io.StringIO()
    run = RunSpec(seed=seed, rate=10.0, count=12)
    write_lines(out, generate(name, run, SMALL[name], text))
    return out.getvalue()


def test_every_workload_is_registered() -> None:
    assert sorted(WORKLOADS) == sorted(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_gives_a_byte_identical_trace(text: TextSource, name: str) -> None:
    first = trace_text(text, name, seed=1)
    assert first.count("\n") == 12
    assert trace_text(text, name, seed=1) == first


@pytest.mark.parametrize("name", sorted(SMALL))
def test_another_seed_gives_another_trace(text: TextSource, name: str) -> None:
    assert trace_text(text, name, seed=1) != trace_text(text, name, seed=2)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_describe_lists_every_default(name: str) -> None:
    line = describe(name)
    assert line.startswith(f"{name}: ")
    assert all(f"{key}=" in line for key in SMALL[name])


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        pytest.param("shared-prefix", {}, SharedPrefix(), id="defaults"),
        pytest.param(
            "shared-prefix",
            {"groups": "10", "prefix_role": "user"},
            SharedPrefix(groups=10, prefix_role="user"),
            id="int-and-str",
        ),
        pytest.param("multi-turn", {"think_time": "2.5"}, MultiTurn(think_time=2.5), id="float"),
    ],
)
def test_create_parses_parameters(name: str, overrides: dict[str, str], expected: object) -> None:
    assert create(name, overrides) == expected


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        pytest.param("nope", {}, "unknown workload", id="unknown-workload"),
        pytest.param("overhead", {"groups": "3"}, "unknown parameters", id="unknown-param"),
        pytest.param("overhead", {"prompt_tokens": "many"}, "not a valid int", id="bad-int"),
        pytest.param("overhead", {"prompt_tokens": "0"}, "≥ 1", id="out-of-range"),
    ],
)
def test_create_rejects_bad_input(name: str, overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create(name, overrides)


def test_parse_overrides() -> None:
    assert parse_overrides(["groups=3", "prefix-role=user"]) == {
        "groups": "3",
        "prefix_role": "user",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["groups"])

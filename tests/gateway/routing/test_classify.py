from __future__ import annotations

import pytest

from gateway.openai.prompt import Prompt
from gateway.routing.classify import ClassRules, RuleClassifier
from tests.gateway.plugins.pool import prompt, request

RULES = ClassRules(
    classes=frozenset({"chat", "long_context", "batch", "interactive"}),
    default="chat",
    header=b"x-kvgate-class",
    long_context=("long_context", 2048),
    low_priority=("batch", 0),
)


@pytest.mark.parametrize(
    ("tokens", "priority", "header", "expected"),
    [
        pytest.param(10, 0, None, "chat", id="default"),
        pytest.param(2048, 0, None, "chat", id="at-threshold-is-not-long"),
        pytest.param(2049, 0, None, "long_context", id="over-threshold"),
        pytest.param(10, 1, None, "batch", id="low-priority"),
        pytest.param(10, -5, None, "chat", id="high-priority-is-not-batch"),
        pytest.param(5000, 3, None, "long_context", id="long-before-priority"),
        pytest.param(10, 0, b"batch", "batch", id="header-batch"),
        pytest.param(5000, 0, b"Batch ", "batch", id="header-wins-normalised"),
        pytest.param(10, 0, b"interactive", "interactive", id="header-any-configured-class"),
        pytest.param(10, 0, b"vip", "chat", id="header-unknown-class-ignored"),
    ],
)
def test_rules(tokens: int, priority: int, header: bytes | None, expected: str) -> None:
    headers = [(b"x-kvgate-class", header)] if header is not None else []
    classify = RuleClassifier(RULES).classify
    assert classify(request(priority=priority, headers=headers), prompt(tokens)) == expected


def test_rules_can_be_switched_off() -> None:
    rules = ClassRules(classes=frozenset({"chat"}), default="chat")
    headers = [(b"x-kvgate-class", b"chat")]
    assert RuleClassifier(rules).classify(request(priority=9, headers=headers), prompt(9999)) == (
        "chat"
    )


def test_untokenized_prompt_is_never_long() -> None:
    assert RuleClassifier(RULES).classify(request(), Prompt()) == "chat"

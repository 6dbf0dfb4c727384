from __future__ import annotations

import pytest

from gateway.routing.headroom import headroom, headrooms


@pytest.mark.parametrize(
    ("load", "least", "slack", "ratio", "expected"),
    [
        pytest.param(0, 0, 4, 0.25, 1.0, id="least-keeps-all"),
        pytest.param(3, 5, 4, 0.25, 1.0, id="below-least-keeps-all"),
        pytest.param(4, 0, 4, 0.25, 0.5, id="slack-halves"),
        pytest.param(12, 0, 4, 0.25, 0.25, id="keeps-falling"),
        pytest.param(300, 2, 4, 0.25, 4 / 302, id="never-saturates"),
        pytest.param(150, 100, 4, 0.25, 1 / 3, id="ratio-widens-slack"),
    ],
)
def test_headroom(load: float, least: float, slack: float, ratio: float, expected: float) -> None:
    assert headroom(load, least, slack=slack, slack_ratio=ratio) == pytest.approx(expected)


def test_headrooms_against_the_least() -> None:
    assert headrooms([2, 6, 2], slack=4, slack_ratio=0) == [1.0, 0.5, 1.0]
    assert headrooms([], slack=1, slack_ratio=0) == []

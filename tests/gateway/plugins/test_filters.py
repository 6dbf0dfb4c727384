from __future__ import annotations

import pytest

from gateway.plugins.base import NoParams
from gateway.plugins.filters.not_saturated import NotSaturatedFilter
from gateway.plugins.filters.ready import ReadyFilter
from gateway.plugins.filters.serves_model import ServesModelFilter
from gateway.routing.interfaces import Filter
from gateway.routing.snapshot import EndpointSnapshot
from tests.gateway.plugins.pool import context, deps, snap

SERVES = ServesModelFilter(NoParams(), deps())
CASES = [
    pytest.param(
        SERVES,
        "m",
        [snap("a"), snap("b", models="other"), snap("c", models="other", adapters="m")],
        ["a", "c"],
        id="serves-model-base-or-adapter",
    ),
    pytest.param(
        SERVES,
        "lora-x",
        [snap("a"), snap("b", adapters="lora-x")],
        ["b"],
        id="serves-model-adapter-only-where-listed",
    ),
    pytest.param(SERVES, "m", [snap("a", models="")], [], id="serves-model-none"),
    pytest.param(
        ReadyFilter(NoParams(), deps()),
        "m",
        [snap("a", ready=False), snap("b"), snap("c", ejected=True)],
        ["b"],
        id="ready-and-not-ejected",
    ),
    pytest.param(
        NotSaturatedFilter(NoParams(), deps()),
        "m",
        [snap("a", saturated=True), snap("b"), snap("c", saturated=True), snap("d")],
        ["b", "d"],
        id="not-saturated-drops-saturated",
    ),
    pytest.param(
        NotSaturatedFilter(NoParams(), deps()),
        "m",
        [snap("a", saturated=True), snap("b", saturated=True)],
        ["a", "b"],
        id="not-saturated-keeps-all-when-all-are",
    ),
]


@pytest.mark.parametrize(("plugin", "model", "candidates", "expected"), CASES)
def test_filter(
    plugin: Filter, model: str, candidates: list[EndpointSnapshot], expected: list[str]
) -> None:
    kept = plugin.filter(context(model=model), candidates)
    assert [s.id for s in kept] == expected

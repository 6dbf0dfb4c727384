from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtests.fleet import Fleet


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    """Real processes on loopback, stopped at the end of the test."""
    with Fleet() as f:
        yield f

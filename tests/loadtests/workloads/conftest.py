from __future__ import annotations

import pytest

from loadtests.workloads.text import TextSource


@pytest.fixture(scope="session")
def text() -> TextSource:
    return TextSource.default()

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import gateway.governance

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(gateway.governance.__path__, prefix="gateway.governance.")
)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_on_its_own(module: str) -> None:
    subprocess.run([sys.executable, "-W", "error", "-c", f"import {module}"], check=True)

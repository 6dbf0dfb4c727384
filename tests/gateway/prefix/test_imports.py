from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import gateway.prefix

MODULES = sorted(
    f"gateway.prefix.{info.name}" for info in pkgutil.iter_modules(gateway.prefix.__path__)
)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_on_its_own(module: str) -> None:
    subprocess.run([sys.executable, "-W", "error", "-c", f"import {module}"], check=True)

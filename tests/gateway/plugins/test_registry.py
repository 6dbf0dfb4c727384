from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gateway.plugins.base import RoutingPlugin
from gateway.plugins.builtin import BUILTIN_PLUGINS
from gateway.plugins.registry import PluginConfigError, PluginRegistry, builtin_registry
from gateway.routing.interfaces import Filter, Picker, Producer, Scorer
from tests.gateway.plugins.pool import deps

PLUGINS_DIR = Path(__file__).parents[3] / "gateway" / "plugins"
ROLES = (Producer, Filter, Scorer, Picker)


@pytest.mark.parametrize("cls", BUILTIN_PLUGINS, ids=lambda cls: cls.type_name)
def test_builtin_subclasses_exactly_one_protocol_explicitly(cls: type[RoutingPlugin]) -> None:
    assert [role for role in ROLES if role in cls.__mro__] == [
        role for role in ROLES if issubclass(cls, role)
    ]
    assert sum(role in cls.__mro__ for role in ROLES) == 1


@pytest.mark.parametrize("cls", BUILTIN_PLUGINS, ids=lambda cls: cls.type_name)
def test_builtin_builds_with_default_parameters(cls: type[RoutingPlugin]) -> None:
    assert isinstance(builtin_registry().build(cls.type_name, {}, deps(), name="x"), cls)


def test_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(PluginConfigError, match=r"unknown plugin type 'nope'.*max-score-picker"):
        builtin_registry().get("nope")


@pytest.mark.parametrize(
    ("type_name", "parameters", "message"),
    [
        pytest.param("prefix-cache-scorer", {"loadSlak": 3}, "loadSlak: Extra inputs", id="typo"),
        pytest.param(
            "queue-depth-scorer", {"slack": 0}, "slack: Input should be greater", id="range"
        ),
        pytest.param(
            "prefix-match-producer", {"maxBlocks": "x"}, "maxBlocks: Input should be", id="type"
        ),
    ],
)
def test_bad_parameters_name_the_plugin_and_field(
    type_name: str, parameters: dict[str, object], message: str
) -> None:
    with pytest.raises(PluginConfigError, match=f"plugin 'mine' \\({type_name}\\).*{message}"):
        builtin_registry().build(type_name, parameters, deps(), name="mine")


def test_registry_rejects_duplicates_and_bad_names() -> None:
    cls = BUILTIN_PLUGINS[0]
    with pytest.raises(ValueError, match="registered twice"):
        PluginRegistry([cls, cls])

    class Bad(RoutingPlugin):
        type_name = "Not_Kebab"

    with pytest.raises(ValueError, match="not kebab-case"):
        PluginRegistry([Bad])


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PLUGINS_DIR.glob("*/*.py") if p.name != "__init__.py"),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_plugins_never_import_each_other(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    ]
    kinds = ("producers", "filters", "scorers", "pickers")
    assert not [m for m in imported if any(m.startswith(f"gateway.plugins.{k}") for k in kinds)]

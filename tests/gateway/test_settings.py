from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import build_parser, load_settings
from gateway.settings import GatewaySettings


def _flags(*argv: str) -> dict[str, object]:
    args = vars(build_parser().parse_args(["serve", *argv]))
    args.pop("command")
    return args


def test_defaults() -> None:
    settings = GatewaySettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.drain_timeout == 30.0
    assert not settings.access_log
    assert settings.api_key_file is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("http://a:1", ("http://a:1",), id="one"),
        pytest.param("http://a:1,http://b:2/", ("http://a:1", "http://b:2"), id="comma"),
        pytest.param("http://a:1 http://b:2", ("http://a:1", "http://b:2"), id="space"),
    ],
)
def test_backends_from_env(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]
) -> None:
    monkeypatch.setenv("KVGATE_BACKENDS", value)
    assert GatewaySettings().backends == expected


def test_flags_override_env_and_absent_flags_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVGATE_PORT", "9000")
    monkeypatch.setenv("KVGATE_DRAIN_TIMEOUT", "5")
    flags = _flags("--port", "9100", "--backend", "http://a:1", "--backend", "http://b:2")
    settings = load_settings(flags)
    assert settings.port == 9100
    assert settings.drain_timeout == 5.0
    assert settings.backends == ("http://a:1", "http://b:2")


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-backends"),
        pytest.param(["--backend", "a:1"], id="url-without-scheme"),
        pytest.param(["--backend", "http://a:1", "--drain-timeout", "0"], id="zero-timeout"),
        pytest.param(["--backend", "http://a:1", "--api-key-file", "/nonexistent"], id="no-keys"),
    ],
)
def test_bad_settings_exit_with_a_message(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        load_settings(_flags(*argv))
    assert str(caught.value.code).startswith("kvgate: ")


def test_backends_file_counts_as_backends(tmp_path: Path) -> None:
    path = tmp_path / "backends.yaml"
    path.write_text("backends:\n  - http://a:1\n")
    assert load_settings(_flags("--backends-file", str(path))).backends_file == path

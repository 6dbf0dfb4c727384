from __future__ import annotations

from pathlib import Path

import pytest

from gateway.discovery.endpoint import Endpoint
from gateway.discovery.static import BackendsFileError, load_backends_file, static_endpoints


def test_backends_file_forms(tmp_path: Path) -> None:
    path = tmp_path / "backends.yaml"
    path.write_text(
        "backends:\n"
        "  - http://127.0.0.1:8001/\n"
        "  - url: http://127.0.0.1:8002\n"
        "    name: engine-b\n"
        "    labels: {zone: a}\n"
    )
    assert load_backends_file(path) == [
        Endpoint("127.0.0.1:8001", "http://127.0.0.1:8001"),
        Endpoint("engine-b", "http://127.0.0.1:8002", {"zone": "a"}),
    ]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("backends: [", id="bad-yaml"),
        pytest.param("engines: []", id="wrong-key"),
        pytest.param("backends:\n  - url: ftp://x\n", id="bad-scheme"),
        pytest.param("backends:\n  - {url: http://x, port: 1}\n", id="unknown-field"),
    ],
)
def test_bad_backends_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "backends.yaml"
    path.write_text(content)
    with pytest.raises(BackendsFileError):
        load_backends_file(path)


def test_flags_and_file_merge_without_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "backends.yaml"
    path.write_text("backends:\n  - http://127.0.0.1:8001\n  - http://127.0.0.1:8002\n")
    endpoints = static_endpoints(["http://127.0.0.1:8001"], path)
    assert [e.id for e in endpoints] == ["127.0.0.1:8001", "127.0.0.1:8002"]


def test_kv_events_addresses_from_flags_and_file(tmp_path: Path) -> None:
    path = tmp_path / "backends.yaml"
    path.write_text("backends:\n  - url: http://b:2\n    kv_events: tcp://b:5557\n  - http://c:3\n")
    flags = {"http://a:1": "tcp://a:5557", "http://c:3": "tcp://c:5557"}
    endpoints = static_endpoints(["http://a:1/"], path, flags)
    assert {e.id: e.kv_events for e in endpoints} == {
        "a:1": "tcp://a:5557",
        "b:2": "tcp://b:5557",
        "c:3": "tcp://c:5557",
    }


def test_kv_events_address_must_be_zmq(tmp_path: Path) -> None:
    path = tmp_path / "backends.yaml"
    path.write_text("backends:\n  - url: http://b:2\n    kv_events: http://b:5557\n")
    with pytest.raises(BackendsFileError, match="tcp:// or ipc://"):
        static_endpoints([], path)

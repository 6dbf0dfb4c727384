from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from gateway.auth.api_keys import (
    ApiKeyAuthenticator,
    ApiKeyFileError,
    OpenAccess,
    read_key_file,
    tenant_id,
)
from gateway.errors import AuthenticationError

KEYS = ["sk-alpha", "sk-beta"]


def test_key_file_skips_blank_and_comment_lines(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# team a\nsk-alpha\n\n   \n  sk-beta  \n#sk-gamma\n")
    assert read_key_file(path) == KEYS


@pytest.mark.parametrize(
    "content", [pytest.param("", id="empty"), pytest.param("# only\n\n", id="comments-only")]
)
def test_key_file_without_keys_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys"
    path.write_text(content)
    with pytest.raises(ApiKeyFileError):
        read_key_file(path)


def test_missing_key_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ApiKeyFileError):
        read_key_file(tmp_path / "absent")


@pytest.mark.parametrize(
    ("header", "key"),
    [
        pytest.param(b"Bearer sk-alpha", "sk-alpha", id="bearer"),
        pytest.param(b"bearer sk-beta", "sk-beta", id="lowercase-scheme"),
        pytest.param(b"Bearer  sk-beta ", "sk-beta", id="extra-space"),
    ],
)
def test_valid_key_maps_to_its_tenant(header: bytes, key: str) -> None:
    principal = ApiKeyAuthenticator(KEYS).authenticate(header)
    assert principal.authenticated
    assert principal.tenant == tenant_id(hashlib.sha256(key.encode()).digest())
    assert len(principal.tenant) == 8


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param(b"", id="empty"),
        pytest.param(b"Basic c2stYWxwaGE=", id="basic-scheme"),
        pytest.param(b"Bearer sk-alphA", id="wrong-key"),
        pytest.param(b"Bearer ", id="empty-key"),
    ],
)
def test_bad_credentials_are_401(header: bytes | None) -> None:
    with pytest.raises(AuthenticationError) as caught:
        ApiKeyAuthenticator(KEYS).authenticate(header)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert "sk-" not in caught.value.message


def test_keys_are_kept_only_as_digests(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    authenticator = ApiKeyAuthenticator(KEYS)
    authenticator.authenticate(b"Bearer sk-alpha")
    held = repr(vars(authenticator)) if hasattr(authenticator, "__dict__") else ""
    assert "sk-alpha" not in held
    assert "sk-alpha" not in caplog.text


def test_open_access_accepts_anything() -> None:
    assert not OpenAccess().authenticate(b"Bearer whatever").authenticated
    assert OpenAccess().authenticate(None).tenant == "anonymous"

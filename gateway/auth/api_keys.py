"""Static API keys from a file, kept only as SHA-256 digests.

A key's tenant id is the first 8 hex digits of its digest: stable across restarts and
replicas, and safe to log or use as a metric label because it does not reveal the key. A
tenants file may give keys (by those digits) a tenant name instead.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from pathlib import Path

from gateway.auth.interfaces import Authenticator
from gateway.errors import AuthenticationError
from gateway.types import ANONYMOUS, Principal

_BEARER = b"bearer "


class ApiKeyFileError(ValueError):
    """The API key file cannot be read or holds no key."""


def tenant_id(digest: bytes) -> str:
    return digest.hex()[:8]


def read_key_file(path: Path) -> list[str]:
    """Keys from a file: one per line, surrounding space stripped, blank and `#` lines ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiKeyFileError(f"cannot read API key file {path}: {exc}") from exc
    keys = [line.strip() for line in lines]
    keys = [key for key in keys if key and not key.startswith("#")]
    if not keys:
        raise ApiKeyFileError(f"API key file {path} holds no key")
    return keys


class OpenAccess(Authenticator):
    """No keys configured: everyone is the anonymous tenant."""

    def authenticate(self, authorization: bytes | None) -> Principal:
        return ANONYMOUS


def _unnamed(digest_hex: str) -> str | None:
    return None


class ApiKeyAuthenticator(Authenticator):
    def __init__(
        self, keys: Iterable[str], tenant_name: Callable[[str], str | None] = _unnamed
    ) -> None:
        """`tenant_name` maps a key's SHA-256 (hex) to the tenant the tenants file names for
        it (`gateway.safety.tenants`); a key it does not name is its own tenant, `tenant_id`."""
        self._digests = tuple(hashlib.sha256(key.encode()).digest() for key in keys)
        self._tenant_name = tenant_name

    def authenticate(self, authorization: bytes | None) -> Principal:
        if not authorization or not authorization[:7].lower() == _BEARER:
            raise AuthenticationError(
                "You didn't provide an API key. Send it as `Authorization: Bearer <key>`."
            )
        digest = hashlib.sha256(authorization[7:].strip()).digest()
        matched: bytes | None = None
        # Compare with every digest, always, so timing does not tell which key (if any) matched.
        for candidate in self._digests:
            if hmac.compare_digest(candidate, digest):
                matched = candidate
        if matched is None:
            raise AuthenticationError("Incorrect API key provided.")
        tenant = self._tenant_name(matched.hex()) or tenant_id(matched)
        return Principal(tenant=tenant, authenticated=True)

"""`X-Request-Id`: the client's if it is sane, otherwise a fresh one."""

from __future__ import annotations

import os

from gateway.types import RawHeaders

_MAX_LENGTH = 128


def request_id_for(headers: RawHeaders) -> str:
    """The client's id when it is 1–128 visible ASCII characters; else 32 random hex digits."""
    for name, value in headers:
        if name == b"x-request-id":
            if _is_sane(value):
                return value.decode("ascii")
            break
    return os.urandom(16).hex()


def _is_sane(value: bytes) -> bool:
    return (
        0 < len(value) <= _MAX_LENGTH
        and value.isascii()
        and b" " not in value
        and value.decode("ascii").isprintable()
    )

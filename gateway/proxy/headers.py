"""Which headers cross the gateway, in each direction.

Hop-by-hop headers (RFC 9110 §7.6.1, plus any named in `Connection`) describe one
connection and never cross. The client's `Authorization` is the gateway's credential, never
the engine's. `X-Request-Id` is set by the gateway on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.types import RawHeaders

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
REQUEST_ID = b"x-request-id"
_NOT_FORWARDED = HOP_BY_HOP | {b"host", b"content-length", b"authorization", b"expect", REQUEST_ID}
# uvicorn writes its own `date`; the engine's `server` says nothing the client needs.
_NOT_RELAYED = HOP_BY_HOP | {b"date", b"server", REQUEST_ID}


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    tokens = [
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    ]
    return frozenset(tokens)


def upstream_request_headers(
    client_headers: RawHeaders, *, request_id: str, authorization: bytes | None = None
) -> RawHeaders:
    """Headers for the engine: the client's, filtered, plus request id and engine credential."""
    dropped = _NOT_FORWARDED | _connection_tokens(client_headers)
    headers = [(name, value) for name, value in client_headers if name not in dropped]
    if not any(name == b"accept-encoding" for name, _ in headers):
        # Bytes are relayed raw, so never ask the engine for an encoding the client did not.
        headers.append((b"accept-encoding", b"identity"))
    headers.append((REQUEST_ID, request_id.encode("latin-1")))
    if authorization is not None:
        headers.append((b"authorization", authorization))
    return headers


def client_response_headers(
    upstream_headers: Sequence[tuple[bytes, bytes]], *, request_id: str
) -> RawHeaders:
    """Headers for the client: the engine's, lower-cased and filtered, plus the request id."""
    lowered = [(name.lower(), value) for name, value in upstream_headers]
    dropped = _NOT_RELAYED | _connection_tokens(lowered)
    headers = [(name, value) for name, value in lowered if name not in dropped]
    headers.append((REQUEST_ID, request_id.encode("latin-1")))
    return headers

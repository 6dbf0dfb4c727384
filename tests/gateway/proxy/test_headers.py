from __future__ import annotations

import pytest

from gateway.proxy.headers import client_response_headers, upstream_request_headers
from gateway.types import RawHeaders

CLIENT: RawHeaders = [
    (b"host", b"gateway:8080"),
    (b"authorization", b"Bearer client-secret"),
    (b"content-type", b"application/json"),
    (b"content-length", b"42"),
    (b"connection", b"keep-alive, x-hop"),
    (b"x-hop", b"1"),
    (b"keep-alive", b"timeout=5"),
    (b"te", b"trailers"),
    (b"x-request-id", b"client-id"),
    (b"user-agent", b"OpenAI/Python"),
    (b"x-custom", b"kept"),
]


def _names(headers: RawHeaders) -> list[bytes]:
    return [name for name, _ in headers]


def test_request_headers_drop_hop_by_hop_and_credentials() -> None:
    headers = upstream_request_headers(CLIENT, request_id="rid")
    names = _names(headers)
    for dropped in (b"host", b"authorization", b"content-length", b"connection", b"x-hop"):
        assert dropped not in names
    assert (b"x-custom", b"kept") in headers
    assert (b"user-agent", b"OpenAI/Python") in headers
    assert headers.count((b"x-request-id", b"rid")) == 1
    assert b"client-id" not in [value for _, value in headers]


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        pytest.param([], b"identity", id="none-sent-identity-asked"),
        pytest.param([(b"accept-encoding", b"gzip")], b"gzip", id="client-choice-kept"),
    ],
)
def test_accept_encoding(client: RawHeaders, expected: bytes) -> None:
    headers = dict(upstream_request_headers(client, request_id="r"))
    assert headers[b"accept-encoding"] == expected


def test_engine_credential_replaces_clients() -> None:
    headers = upstream_request_headers(CLIENT, request_id="r", authorization=b"Bearer engine")
    assert [v for n, v in headers if n == b"authorization"] == [b"Bearer engine"]


def test_response_headers_lowercased_and_filtered() -> None:
    upstream: RawHeaders = [
        (b"Content-Type", b"text/event-stream"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Connection", b"close"),
        (b"Date", b"Mon"),
        (b"Server", b"uvicorn"),
        (b"X-Request-Id", b"engine-id"),
        (b"X-Engine-Thing", b"1"),
    ]
    headers = client_response_headers(upstream, request_id="rid")
    assert headers == [
        (b"content-type", b"text/event-stream"),
        (b"x-engine-thing", b"1"),
        (b"x-request-id", b"rid"),
    ]

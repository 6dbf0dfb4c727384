"""Personal data and secrets: what is found, what is not, and how it is redacted."""

from __future__ import annotations

import pytest

from gateway.safety.detectors import (
    KINDS,
    Kind,
    cn_id_check_char,
    find_sensitive,
    luhn_valid,
    redact,
)
from gateway.safety.normalize import TextFacts

_ID17 = "11010519491231002"
CN_ID = _ID17 + cn_id_check_char(_ID17)
CN_ID_BAD = _ID17 + ("0" if cn_id_check_char(_ID17) != "0" else "1")
OPENAI_KEY = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 2
GITHUB_TOKEN = "ghp_" + "A" * 36
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def _found(text: str, kinds: tuple[Kind, ...] = KINDS) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in find_sensitive(TextFacts(text), kinds)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "mail john.doe+x@example.co.uk now", [("email", "john.doe+x@example.co.uk")], id="email"
        ),
        pytest.param("call +1 (415) 555-2671", [("phone", "+1 (415) 555-2671")], id="e164"),
        pytest.param("call 415-555-2671 today", [("phone", "415-555-2671")], id="nanp"),
        pytest.param("手机13800138000，谢谢", [("phone", "13800138000")], id="cn-mobile"),
        pytest.param("座机010-12345678", [("phone", "010-12345678")], id="cn-landline"),
        pytest.param(
            "card 4111 1111 1111 1111 ok", [("payment_card", "4111 1111 1111 1111")], id="visa-luhn"
        ),
        pytest.param("amex 378282246310005.", [("payment_card", "378282246310005")], id="amex"),
        pytest.param(f"身份证{CN_ID}。", [("cn_resident_id", CN_ID)], id="cn-id-checksum"),
        pytest.param("ssn 123-45-6789", [("us_ssn", "123-45-6789")], id="ssn"),
        pytest.param(f"key {OPENAI_KEY} end", [("secret", OPENAI_KEY)], id="openai-key"),
        pytest.param("AKIAIOSFODNN7EXAMPLE", [("secret", "AKIAIOSFODNN7EXAMPLE")], id="aws"),
        pytest.param(f"token={GITHUB_TOKEN}", [("secret", GITHUB_TOKEN)], id="github"),
        pytest.param(f"Bearer {JWT}", [("secret", JWT)], id="jwt"),
        pytest.param(
            "password: hunter2hunter2", [("secret", "hunter2hunter2")], id="assigned-password"
        ),
        pytest.param(
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
            [("secret", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----")],
            id="pem",
        ),
    ],
)
def test_found(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("card 4111 1111 1111 1112", id="luhn-fails"),
        pytest.param(f"id {CN_ID_BAD}", id="cn-id-bad-checksum"),
        pytest.param("ssn 000-12-3456 and 666-12-3456", id="never-issued-ssn"),
        pytest.param("version 1.2.3 released 2024-05-01 on 192.168.1.1", id="versions-dates-ips"),
        pytest.param("order 1234567890123 shipped", id="plain-long-number"),
        pytest.param("user@localhost has no domain", id="no-tld"),
        pytest.param("def test_a_really_long_function_name_here(): pass", id="long-identifier"),
        pytest.param("the password is too short: pw", id="short-value"),
        pytest.param("SKU abc4111111111111111xyz", id="digits-glued-to-letters"),
    ],
)
def test_not_found(text: str) -> None:
    assert _found(text) == []


def test_only_the_kinds_asked_for() -> None:
    text = "mail a@b.io, call 415-555-2671"
    assert _found(text, ("phone",)) == [("phone", "415-555-2671")]


def test_redaction_replaces_each_finding_in_place() -> None:
    text = "a@b.io and 4111-1111-1111-1111 and a@b.io"
    spans = find_sensitive(TextFacts(text), KINDS)
    assert redact(text, spans, "[{kind}]") == "[email] and [payment_card] and [email]"


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("79927398713", True), ("79927398710", False), ("4012888888881881", True)],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(
    ("first17", "check"),
    [("11010519491231002", "X"), ("44052418800101001", "4")],
)
def test_cn_id_check_character(first17: str, check: str) -> None:
    assert cn_id_check_char(first17) == check


def test_non_ascii_text_falls_back_to_a_whole_search_for_secrets() -> None:
    text = f"密钥是 {OPENAI_KEY}，请保密"
    assert _found(text) == [("secret", OPENAI_KEY)]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a@" * 30_000, id="at-signs"),
        pytest.param("x" * 60 + "@" + "a-" * 30_000, id="long-domain"),
        pytest.param("1-" * 30_000, id="digit-runs"),
        pytest.param("password " * 20_000, id="keywords"),
        pytest.param("sk-" + "a" * 100_000, id="one-long-token"),
        pytest.param("-----BEGIN PRIVATE KEY-----" * 5_000, id="pem-headers"),
    ],
)
def test_pathological_input_is_scanned_in_linear_time(text: str) -> None:
    """Detectors run on attacker-controlled text: no pattern may backtrack catastrophically."""
    spans = find_sensitive(TextFacts(text), KINDS)
    assert all(0 <= span.start < span.end <= len(text) for span in spans)

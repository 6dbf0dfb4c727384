"""Personal data and secrets in text: where they are, validated where a checksum exists.

Kinds: `email`; `phone` (E.164 `+…`, North American with separators, Chinese mobile and
landline); `payment_card` (13-19 digits of a known issuer range that pass the Luhn check);
`cn_resident_id` (18-character Chinese resident identity number: region, a real birth date,
ISO 7064 MOD 11-2 check character); `us_ssn` (`123-45-6789`, excluding never-issued areas);
`secret` (API keys and tokens of well-known shapes — OpenAI, Anthropic, AWS, GitHub, GitLab,
Slack, Stripe, Google, Hugging Face —, JWTs, PEM private keys, and values assigned to
`password`, `api_key`, `token`, … in `key = value` or `key: value` form).

Cost matters more than cleverness here: every detector first asks a cheap question of the
whole text (is there an `@`, a digit, a long word, a key-like word?) and only then runs its
regular expression, and then only near what the question found where it can.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, get_args

from gateway.safety.normalize import TextFacts

Kind = Literal["email", "phone", "payment_card", "cn_resident_id", "us_ssn", "secret"]
KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True, slots=True, order=True)
class Span:
    start: int
    end: int
    kind: Kind


_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b"
)
_DIGITS = "0123456789"
_NUMBERISH = re.compile(r"[+(0-9][0-9 ().-]{5,24}[0-9Xx]")
_NON_DIGITS = re.compile(r"[^0-9Xx]")
_SSN = re.compile(r"(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}")
_CARD = re.compile(r"[0-9]{4}(?:[ -]?[0-9]{2,4}){2,4}[0-9]{0,3}")
_CN_ID = re.compile(
    r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
)
_PHONE_FORMS = (
    re.compile(r"\+[1-9][0-9 ().-]{6,20}[0-9]"),  # international, checked for 8-15 digits
    re.compile(r"\(?[2-9][0-9]{2}\)?[ .-]?[2-9][0-9]{2}[ .-][0-9]{4}"),  # North American
    re.compile(r"(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}"),  # Chinese mobile
    re.compile(r"0[1-9][0-9]{1,2}-[0-9]{7,8}"),  # Chinese landline with area code
)
_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"
_CARD_PREFIXES = re.compile(
    r"4|5[1-5]|2(?:2[2-9]|[3-6]|7[01]|720)|3[47]|3(?:0[0-5]|[68])|6(?:011|5|4[4-9]|2)|35"
)

_TOKEN_SHAPES = re.compile(
    r"sk-(?:proj-|ant-(?:api|admin)[0-9]{2}-|live-)?[A-Za-z0-9_-]{20,}"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:.{0,16384}?-----END [A-Z ]*PRIVATE KEY-----|.{0,4096})",
    re.DOTALL,
)
_ASSIGNED = re.compile(
    r"(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?key(?:[_-]?id)?|auth[_-]?token|token"
    r"|passw(?:or)?d|pwd|client[_-]?secret|bearer)[\"']?\s*(?:[:=]|\s)\s*[\"']?"
    r"([^\s\"'`,;]{8,})",
    re.IGNORECASE,
)
_KEYWORDS = frozenset(
    word.encode()
    for word in [
        "password",
        "passwd",
        "pwd",
        "secret",
        "secret_key",
        "api_key",
        "apikey",
        "access_key",
        "access_key_id",
        "auth_token",
        "token",
        "client_secret",
        "bearer",
    ]
)
_WHITESPACE = " \t\n\r\f\v"


def find_sensitive(facts: TextFacts, kinds: Iterable[Kind]) -> list[Span]:
    """Non-overlapping findings of `kinds` in `facts.raw`, in text order (an earlier or
    longer finding wins an overlap)."""
    text = facts.raw
    wanted = frozenset(kinds)
    spans: list[Span] = []
    if "email" in wanted and "@" in text:
        spans.extend(_emails(text))
    if wanted & _NUMBER_KINDS and any(digit in text for digit in _DIGITS):
        spans.extend(_numbers(text, wanted))
    if "secret" in wanted:
        spans.extend(_secrets(facts))
    return _non_overlapping(spans)


def redact(text: str, spans: Iterable[Span], placeholder: str) -> str:
    """`text` with each span replaced by `placeholder` (`{kind}` names the kind)."""
    parts: list[str] = []
    last = 0
    for span in spans:
        parts.append(text[last : span.start])
        parts.append(placeholder.replace("{kind}", span.kind))
        last = span.end
    parts.append(text[last:])
    return "".join(parts)


_NUMBER_KINDS = frozenset({"phone", "payment_card", "cn_resident_id", "us_ssn"})


def _emails(text: str) -> Iterator[Span]:
    at = text.find("@")
    while at >= 0:
        start = at
        while start > 0 and at - start < 64 and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        domain = _DOMAIN.match(text, at + 1)
        if start < at and domain is not None:
            yield Span(start, domain.end(), "email")
        at = text.find("@", at + 1)


def _numbers(text: str, wanted: frozenset[str]) -> Iterator[Span]:
    for candidate in _NUMBERISH.finditer(text):
        start, end = candidate.span()
        if (start and _glued(text[start - 1])) or (end < len(text) and _glued(text[end])):
            continue
        yield from _classify(text, start, end, wanted)


def _classify(text: str, start: int, end: int, wanted: frozenset[str]) -> Iterator[Span]:
    """The first kind that a run of digits and separators is, searched inside the run."""
    if "cn_resident_id" in wanted:
        for match in _CN_ID.finditer(text, start, end):
            if _bounded(text, match) and _cn_id_valid(match.group()):
                yield Span(match.start(), match.end(), "cn_resident_id")
                return
    if "us_ssn" in wanted:
        ssn = _SSN.search(text, start, end)
        if ssn is not None and _bounded(text, ssn):
            yield Span(ssn.start(), ssn.end(), "us_ssn")
            return
    if "payment_card" in wanted:
        for match in _CARD.finditer(text, start, end):
            digits = _NON_DIGITS.sub("", match.group())
            if _bounded(text, match) and 13 <= len(digits) <= 19 and _card_valid(digits):
                yield Span(match.start(), match.end(), "payment_card")
                return
    if "phone" in wanted:
        for form in _PHONE_FORMS:
            phone = form.search(text, start, end)
            if phone is not None and _bounded(text, phone) and _phone_digits(phone.group()):
                yield Span(phone.start(), phone.end(), "phone")
                return


def _bounded(text: str, match: re.Match[str]) -> bool:
    """No ASCII digit or letter glued to either end (a run inside a longer number or an
    identifier is not one; Chinese text writes numbers right next to words)."""
    start, end = match.span()
    return not (start and _glued(text[start - 1])) and not (end < len(text) and _glued(text[end]))


def _glued(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _phone_digits(number: str) -> bool:
    return 8 <= len(_NON_DIGITS.sub("", number)) <= 15


def _card_valid(digits: str) -> bool:
    return _CARD_PREFIXES.match(digits) is not None and luhn_valid(digits)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def cn_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of a Chinese resident identity number."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _CN_WEIGHTS, strict=True))
    return _CN_CHECK[total % 11]


def _cn_id_valid(number: str) -> bool:
    return cn_id_check_char(number[:17]) == number[17].upper()


def _secrets(facts: TextFacts) -> Iterator[Span]:
    text = facts.raw
    scan = facts.scan.text
    if "-----begin" in scan:
        for match in _PRIVATE_KEY.finditer(text):
            yield Span(match.start(), match.end(), "secret")
    long_words = facts.long_words
    keywords = facts.present(_KEYWORDS)
    if not (long_words or keywords):
        return
    if len(scan) != len(text) or not text.isascii():
        # Positions in the scan text may not be the raw text's: search the raw text whole.
        yield from _token_secrets(text, 0, len(text))
        if keywords:
            yield from _assigned(text, 0, len(text))
        return
    for word in long_words:
        needle = word.decode()
        index = scan.find(needle)
        while index >= 0:
            start = _token_start(text, index)
            end = _token_end(text, index + len(needle))
            yield from _token_secrets(text, start, end)
            index = scan.find(needle, index + len(needle))
    for keyword in keywords:
        needle = keyword.decode()
        index = scan.find(needle)
        while index >= 0:
            yield from _assigned(text, index, min(len(text), index + 512))
            index = scan.find(needle, index + len(needle))


def _token_secrets(text: str, start: int, end: int) -> Iterator[Span]:
    for match in _TOKEN_SHAPES.finditer(text, start, end):
        yield Span(match.start(), match.end(), "secret")


def _assigned(text: str, start: int, end: int) -> Iterator[Span]:
    match = _ASSIGNED.match(text, start, end) if end - start <= 512 else None
    matches = [match] if match is not None else []
    if end - start > 512:
        matches = list(_ASSIGNED.finditer(text, start, end))
    for found in matches:
        value = found.group(1)
        if any(char.isdigit() for char in value) or len(value) >= 12:
            yield Span(found.start(1), found.end(1), "secret")


def _token_start(text: str, index: int) -> int:
    while index > 0 and text[index - 1] not in _WHITESPACE:
        index -= 1
    return index


def _token_end(text: str, index: int) -> int:
    while index < len(text) and text[index] not in _WHITESPACE:
        index += 1
    return index


def _non_overlapping(spans: list[Span]) -> list[Span]:
    spans.sort(key=lambda span: (span.start, -span.end))
    kept: list[Span] = []
    for span in spans:
        if kept and span.start < kept[-1].end:
            continue
        kept.append(span)
    return kept

"""Text as the rules read it: lower case, invisible characters removed, full-width letters
folded, and hidden ASCII (Unicode tag characters) decoded; with counts of each trick.

Cost is what decides the shape of this module (it runs over every prompt): ASCII text costs
one `lower()`; other text is checked for the tricks on its UTF-8 bytes, where a regular
expression scans an order of magnitude faster than over a two-byte `str`, and only a text
that has them pays for removing them. Words are split on bytes for the same reason.
Positions are not kept: redaction works on the original text, never on this.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Invisible format characters used to split trigger words (zero-width space, joiners, soft
# hyphen, word joiner, BOM, …), bidirectional overrides and isolates, Unicode tag characters
# (each one spells an ASCII character: "ASCII smuggling"), full-width letters and digits.
_TRICK_BYTES = re.compile(
    rb"\xe2\x80[\x8b-\x8f\xaa-\xae]|\xe2\x81[\xa0-\xa4\xa6-\xa9]|\xc2\xad|\xcd\x8f|\xe1\xa0\x8e"
    rb"|\xef\xbb\xbf|\xf3\xa0[\x80\x81]|\xef\xbc[\x90-\x99\xa1-\xba]|\xef\xbd[\x81-\x9a]"
)
_HIDDEN = re.compile("[\u00ad\u034f\u180e\u200b-\u200f\u2060-\u2064\ufeff]")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_FLAG = "\U0001f3f4"  # tag characters are legitimate inside subdivision flag emoji
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_FULLWIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FOLD[0x3000] = 0x20  # ideographic space

_ASCII_SEPARATORS = bytes(range(33, 48)) + bytes(range(58, 65)) + b"[\\]^`{|}~"
_SPLIT_BYTES = bytes.maketrans(_ASCII_SEPARATORS, b" " * len(_ASCII_SEPARATORS))
_UNICODE_SEPARATORS = tuple(char.encode() for char in "“”‘’«»—–…，。：；！？（）「」『』【】、")
_ASCII_WORD = re.compile(rb"[a-z0-9_]+")
LONG_WORD = 16
"""Characters from which a word may be a key, token or base64 blob."""


@dataclass(frozen=True, slots=True)
class ScanText:
    text: str
    """Lower case, invisible characters removed, full-width ASCII folded, tag text appended."""
    hidden: int = 0
    """Invisible format characters removed (zero-width space, joiner, soft hyphen, …)."""
    tags: int = 0
    """Unicode tag characters (outside flag emoji)."""
    bidi: int = 0
    """Bidirectional overrides and isolates."""
    fullwidth: int = 0
    """Full-width letters and digits folded to ASCII."""


def scan_text(raw: str) -> ScanText:
    if raw.isascii() or not _TRICK_BYTES.search(raw.encode("utf-8", "surrogatepass")):
        return ScanText(raw.lower())
    text = raw
    hidden = tags = bidi = fullwidth = 0
    if _HIDDEN.search(text):
        text, hidden = _HIDDEN.subn("", text)
    smuggled = ""
    if _TAGS.search(text) and _FLAG not in text:
        runs = _TAGS.findall(text)
        tags = sum(len(run) for run in runs)
        smuggled = " ".join(_untag(run) for run in runs)
        text = _TAGS.sub("", text)
    if _BIDI.search(text):
        text, bidi = _BIDI.subn("", text)
    if _FULLWIDTH_ALNUM.search(text):
        fullwidth = len(_FULLWIDTH_ALNUM.findall(text))
        text = text.translate(_FOLD)
    if smuggled:
        text = f"{text}\n{smuggled}"
    return ScanText(text.lower(), hidden, tags, bidi, fullwidth)


def _untag(run: str) -> str:
    return "".join(chr(ord(char) - 0xE0000) for char in run)


class MarkIndex:
    """Marks (substrings) grouped by first character, with one pattern matching any of those
    characters: the text is scanned once for all of them."""

    def __init__(self, marks: Iterable[str]) -> None:
        by_first: dict[str, list[str]] = {}
        for mark in dict.fromkeys(marks):
            by_first.setdefault(mark[0], []).append(mark)
        self.by_first: Mapping[str, tuple[str, ...]] = {
            first: tuple(group) for first, group in by_first.items()
        }
        self.all = tuple(mark for group in self.by_first.values() for mark in group)
        chars = "".join(re.escape(first) for first in self.by_first) or "(?!)"
        self.first_chars = re.compile(f"[{chars}]" if self.by_first else chars)


class TextFacts:
    """What several guards need from one text, computed at most once and only when asked.

    One per text segment per request (not shared between requests or threads).
    """

    __slots__ = ("_long_words", "_positions", "_scan", "_words", "raw")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._scan: ScanText | None = None
        self._words: list[bytes] | None = None
        self._long_words: tuple[bytes, ...] | None = None
        self._positions: dict[str, list[int]] = {}

    @property
    def scan(self) -> ScanText:
        if self._scan is None:
            self._scan = scan_text(self.raw)
        return self._scan

    @property
    def words(self) -> list[bytes]:
        """The words of the scan text as UTF-8, in order; every punctuation mark but `_`
        separates words."""
        if self._words is None:
            text = self.scan.text
            data = text.encode("utf-8", "surrogatepass")
            if len(data) > 2 * len(text):  # mostly CJK: only ASCII words can be anchors
                self._words = _ASCII_WORD.findall(data)
                return self._words
            if not data.isascii():
                for separator in _UNICODE_SEPARATORS:
                    if separator in data:
                        data = data.replace(separator, b" ")
            self._words = data.translate(_SPLIT_BYTES).split()
        return self._words

    def present(self, vocabulary: frozenset[bytes]) -> frozenset[bytes]:
        """The words of `vocabulary` that occur in the text."""
        return vocabulary.intersection(self.words)

    @property
    def long_words(self) -> tuple[bytes, ...]:
        """ASCII words of at least `LONG_WORD` characters: where keys and blobs hide."""
        if self._long_words is None:
            words = self.words
            if words and max(map(len, words)) >= LONG_WORD:
                long = (word for word in words if len(word) >= LONG_WORD and word.isascii())
                self._long_words = tuple(dict.fromkeys(long))
            else:
                self._long_words = ()
        return self._long_words

    def index_marks(self, marks: MarkIndex) -> list[str]:
        """Locate every mark in one scan for their first characters, cache their positions,
        and return the marks that occur."""
        text = self.scan.text
        hits: dict[str, list[int]] = {}
        for candidate in marks.first_chars.finditer(text):
            index = candidate.start()
            for mark in marks.by_first[candidate.group()]:
                if text.startswith(mark, index):
                    hits.setdefault(mark, []).append(index)
        for mark in marks.all:
            self._positions[mark] = hits.get(mark, [])
        return list(hits)

    def positions(self, needle: str) -> list[int]:
        """Where `needle` starts in the scan text (an ASCII word: only at a word start);
        cached, since several rules share anchors."""
        found = self._positions.get(needle)
        if found is None:
            found = self._positions[needle] = _occurrences(self.scan.text, needle)
        return found


def _occurrences(text: str, needle: str) -> list[int]:
    """A Chinese needle is found by its first character: `str.find` of two CJK characters
    scans slowly, of one it does not."""
    found = []
    if needle.isascii():
        word = needle[0].isalnum()
        index = text.find(needle)
        while index >= 0:
            if not (word and index and text[index - 1].isalnum()):
                found.append(index)
            index = text.find(needle, index + len(needle))
        return found
    first = needle[0]
    index = text.find(first)
    while index >= 0:
        if text.startswith(needle, index):
            found.append(index)
        index = text.find(first, index + 1)
    return found

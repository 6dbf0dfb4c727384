"""The request trace: JSON Lines, one request per line, replayable by the load generator.

Each line is one JSON object:

    {"offset": 0.731, "path": "/v1/chat/completions", "headers": {"x-session-id": "s3"},
     "body": {...OpenAI request body...}, "tag": "chat", "group": "g7", "session": "s3"}

- `offset` (required): seconds since the start of the run when the request is sent; a number
  ≥ 0, never smaller than the previous line's;
- `path` (required): `/v1/chat/completions` or `/v1/completions`, appended to the base URL;
- `body` (required): the request body, an object (`messages` for chat, `prompt` for
  completions);
- `headers` (optional, default `{}`): extra request headers, string to string;
- `tag`, `group`, `session` (optional strings): labels for the analysis (workload class,
  shared-prefix group, chat session); the load generator only copies them to its results.

Unknown keys and blank lines are errors and ignored respectively. Traces are written and read
one line at a time, so a long trace never has to fit in memory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

JSONObject = dict[str, object]

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
PATHS = (CHAT_PATH, COMPLETIONS_PATH)
_BODY_KEY = {CHAT_PATH: "messages", COMPLETIONS_PATH: "prompt"}
_LABELS = ("tag", "group", "session")
_KEYS = frozenset({"offset", "path", "headers", "body", *_LABELS})


class TraceError(ValueError):
    """A trace line is not a valid record; `line` is its 1-based line number (0: unknown)."""

    def __init__(self, reason: str, line: int = 0, source: str = "trace") -> None:
        super().__init__(f"{source}:{line}: {reason}" if line else f"{source}: {reason}")
        self.reason = reason
        self.line = line


@dataclass(frozen=True)
class TraceRecord:
    """One request of a trace. `body` and `headers` are owned by the record: don't mutate."""

    offset: float
    body: JSONObject
    path: str = CHAT_PATH
    headers: dict[str, str] = field(default_factory=dict)
    tag: str | None = None
    group: str | None = None
    session: str | None = None


def to_json(record: TraceRecord) -> JSONObject:
    """The record as its JSON object (optional labels left out when unset)."""
    data: JSONObject = {"offset": record.offset, "path": record.path}
    if record.headers:
        data["headers"] = record.headers
    data["body"] = record.body
    for label in _LABELS:
        value = getattr(record, label)
        if value is not None:
            data[label] = value
    return data


def dumps(record: TraceRecord) -> str:
    """One trace line (no newline); the same record always gives the same bytes."""
    return json.dumps(to_json(record), ensure_ascii=False, separators=(",", ":"))


def from_json(data: object) -> TraceRecord:
    """Validate one decoded line; raise `TraceError` (without a line number) if invalid."""
    if not isinstance(data, dict):
        raise TraceError(f"expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise TraceError(f"unknown keys {unknown}")
    offset = data.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int | float):
        raise TraceError("`offset` must be a number of seconds")
    if not math.isfinite(offset) or offset < 0:
        raise TraceError(f"`offset` must be finite and ≥ 0, got {offset}")
    path = data.get("path")
    if path not in PATHS:
        raise TraceError(f"`path` must be one of {list(PATHS)}, got {path!r}")
    body = data.get("body")
    if not isinstance(body, dict):
        raise TraceError("`body` must be an object")
    if _BODY_KEY[path] not in body:
        raise TraceError(f"`body` of {path} needs `{_BODY_KEY[path]}`")
    return TraceRecord(
        offset=float(offset),
        body=body,
        path=path,
        headers=_headers(data.get("headers", {})),
        **{label: _label(data, label) for label in _LABELS},
    )


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TraceError("`headers` must be an object of strings")
    return value


def _label(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TraceError(f"`{key}` must be a string")


def parse_lines(lines: Iterable[str], source: str = "trace") -> Iterator[TraceRecord]:
    """Records from trace lines, lazily; `TraceError` names the first bad line."""
    previous = 0.0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = from_json(json.loads(line))
        except json.JSONDecodeError as exc:
            reason = f"invalid JSON: {exc.msg} (column {exc.colno})"
            raise TraceError(reason, number, source) from None
        except TraceError as exc:
            raise TraceError(exc.reason, number, source) from None
        if record.offset < previous:
            raise TraceError(
                f"`offset` {record.offset} is before the previous line's {previous}",
                number,
                source,
            )
        previous = record.offset
        yield record


def read_trace(path: Path) -> Iterator[TraceRecord]:
    """Stream the records of a trace file; the file stays open until the iterator ends."""
    with path.open(encoding="utf-8") as lines:
        yield from parse_lines(lines, str(path))


def write_lines(out: TextIO, records: Iterable[TraceRecord]) -> int:
    """Write records as trace lines; returns how many. Offsets must be ≥ 0 and non-decreasing."""
    previous = 0.0
    count = 0
    for count, record in enumerate(records, start=1):
        if not record.offset >= previous:
            raise TraceError(f"record {count}: offset {record.offset} < {previous}")
        previous = record.offset
        out.write(dumps(record))
        out.write("\n")
    return count


def write_trace(path: Path, records: Iterable[TraceRecord]) -> int:
    """Write a trace file (replacing it); returns the number of records."""
    with path.open("w", encoding="utf-8") as out:
        return write_lines(out, records)

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from loadtests.bench.trace import (
    COMPLETIONS_PATH,
    TraceError,
    TraceRecord,
    dumps,
    parse_lines,
    read_trace,
    write_lines,
    write_trace,
)

RECORDS = [
    TraceRecord(0.0, {"model": "m", "messages": [{"role": "user", "content": "héllo"}]}),
    TraceRecord(
        0.25,
        {"model": "m", "messages": [], "max_tokens": 8, "priority": 10},
        headers={"x-kvgate-class": "batch"},
        tag="batch",
    ),
    TraceRecord(
        0.25,
        {"model": "m", "prompt": "once upon"},
        path=COMPLETIONS_PATH,
        tag="chat",
        group="g1",
        session="s9",
    ),
]

GOOD = json.dumps({"offset": 1.0, "path": "/v1/chat/completions", "body": {"messages": []}})


def test_write_then_read_gives_equal_records(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    assert write_trace(path, RECORDS) == len(RECORDS)
    assert list(read_trace(path)) == RECORDS


def test_lines_are_compact_and_stable() -> None:
    line = dumps(RECORDS[0])
    assert "\n" not in line
    assert line == dumps(RECORDS[0])
    assert line.startswith('{"offset":0.0,"path":"/v1/chat/completions","body":')
    assert "héllo" in line  # not escaped
    assert "tag" not in line  # unset labels are left out


def test_blank_lines_are_skipped_and_int_labels_become_strings() -> None:
    line = json.dumps({"offset": 2, "path": "/v1/completions", "body": {"prompt": "x"}, "group": 7})
    (record,) = parse_lines(["", line, "   "])
    assert record.offset == 2.0
    assert record.group == "7"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("{not json", "invalid JSON", id="bad-json"),
        pytest.param("[1, 2]", "JSON object", id="not-an-object"),
        pytest.param('{"path": "/v1/completions", "body": {}}', "offset", id="no-offset"),
        pytest.param(GOOD.replace("1.0", '"1"'), "offset", id="string-offset"),
        pytest.param(GOOD.replace("1.0", "true"), "offset", id="bool-offset"),
        pytest.param(GOOD.replace("1.0", "-1"), "≥ 0", id="negative-offset"),
        pytest.param(GOOD.replace("1.0", "0.5"), "before the previous", id="going-back"),
        pytest.param(GOOD.replace("/v1/chat/completions", "/v1/embeddings"), "path", id="path"),
        pytest.param(GOOD.replace('{"messages": []}', "[]"), "body", id="body-not-object"),
        pytest.param(GOOD.replace("messages", "prompt"), "needs `messages`", id="chat-no-msgs"),
        pytest.param(GOOD[:-1] + ', "headers": {"a": 1}}', "headers", id="header-not-str"),
        pytest.param(GOOD[:-1] + ', "tag": 3.5}', "tag", id="tag-not-str"),
        pytest.param(GOOD[:-1] + ', "ofset": 1}', "unknown keys", id="unknown-key"),
    ],
)
def test_invalid_lines_are_named_by_number(line: str, message: str) -> None:
    lines = [GOOD, "", line]
    with pytest.raises(TraceError, match=message) as caught:
        list(parse_lines(lines, source="t.jsonl"))
    assert caught.value.line == 3
    assert str(caught.value).startswith("t.jsonl:3: ")


def test_read_trace_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(GOOD + "\n{\n")
    with pytest.raises(TraceError, match=r"bad\.jsonl:2: invalid JSON"):
        list(read_trace(path))


def test_reading_is_lazy() -> None:
    lines = iter([GOOD, "{broken"])
    records = parse_lines(lines)
    assert next(records).offset == 1.0  # the bad line is not read yet


@pytest.mark.parametrize("offsets", [[1.0, 0.5], [-1.0], [float("nan")]], ids=str)
def test_writer_rejects_offsets_out_of_order(offsets: list[float]) -> None:
    records = [TraceRecord(offset, {"messages": []}) for offset in offsets]
    with pytest.raises(TraceError, match="offset"):
        write_lines(io.StringIO(), records)

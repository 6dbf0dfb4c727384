from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.discovery.prometheus_text import (
    MetricsFormatError,
    Sample,
    SeriesReader,
    parse_labels,
)
from tests.gateway.discovery.vllm_pages import EnginePage


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(b"", {}, id="empty"),
        pytest.param(b'a="x"', {"a": "x"}, id="one"),
        pytest.param(b'a="x",b="y"', {"a": "x", "b": "y"}, id="two"),
        pytest.param(b'a="x",b="y",', {"a": "x", "b": "y"}, id="trailing-comma"),
        pytest.param(b'a="x", b="y"', {"a": "x", "b": "y"}, id="space-after-comma"),
        pytest.param(b'a = "x"', {"a": "x"}, id="spaces-around-equals"),
        pytest.param(b'a="",b="y"', {"a": "", "b": "y"}, id="empty-value"),
        pytest.param(b'a="x,y=z"', {"a": "x,y=z"}, id="comma-and-equals-in-value"),
        pytest.param(b'a="say \\"hi\\""', {"a": 'say "hi"'}, id="escaped-quote"),
        pytest.param(b'a="C:\\\\dir",b="1"', {"a": "C:\\dir", "b": "1"}, id="escaped-backslash"),
        pytest.param(b'a="two\\nlines"', {"a": "two\nlines"}, id="escaped-newline"),
        pytest.param(b'a="\\",b=\\""', {"a": '",b="'}, id="escaped-quote-comma"),
        pytest.param('a="é"'.encode(), {"a": "é"}, id="utf-8"),
    ],
)
def test_labels(raw: bytes, expected: dict[str, str]) -> None:
    assert parse_labels(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'a="x', id="unterminated"),
        pytest.param(b"a=x", id="unquoted"),
        pytest.param(b'="x"', id="no-name"),
        pytest.param(b'a="x",junk', id="junk-after"),
    ],
)
def test_malformed_labels(raw: bytes) -> None:
    with pytest.raises(MetricsFormatError):
        parse_labels(raw)


READER = SeriesReader(["m", "m_total", "other"])


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        pytest.param(b"m 1\n", {"m": [Sample(b"", 1.0)]}, id="first-line-no-labels"),
        pytest.param(b"# HELP m x\n# TYPE m gauge\nm 2.5", {"m": [Sample(b"", 2.5)]}, id="no-eol"),
        pytest.param(
            b'# x\nm{a="1"} 1\nm{a="2"} 2 1700000000000\n',
            {"m": [Sample(b'a="1"', 1.0), Sample(b'a="2"', 2.0)]},
            id="labels-and-timestamp",
        ),
        pytest.param(
            b"# x\nm_total 3\nm_created 1.7e9\nm_total_extra 9\n",
            {"m_total": [Sample(b"", 3.0)]},
            id="exact-names-only",
        ),
        pytest.param(b"# x\nmm 1\nxm 2\n", {}, id="longer-names-skipped"),
        pytest.param(b"# m 1\n#m 1\n", {}, id="comments-skipped"),
        pytest.param(b"# x\nm NaN\nm +Inf\nm 1\n", {"m": [Sample(b"", 1.0)]}, id="non-finite"),
        pytest.param(b"# x\nm\t4\n", {"m": [Sample(b"", 4.0)]}, id="tab-separated"),
        pytest.param(b'# x\nm{a="}"} 5\n', {"m": [Sample(b'a="}"', 5.0)]}, id="brace-in-value"),
        pytest.param(b"# x\r\nm 6\r\n", {"m": [Sample(b"", 6.0)]}, id="crlf"),
        pytest.param(b"", {}, id="empty-page"),
    ],
)
def test_read_series(page: bytes, expected: dict[str, list[Sample]]) -> None:
    found = READER.read(page)
    assert {name: samples for name, samples in found.items() if samples} == expected
    assert set(found) == {"m", "m_total", "other"}


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(b"# x\nm {\n", id="unclosed-labels"),
        pytest.param(b'# x\nm{a="1"}\n', id="no-value"),
        pytest.param(b"# x\nm one\n", id="not-a-number"),
    ],
)
def test_malformed_lines_of_wanted_series(page: bytes) -> None:
    with pytest.raises(MetricsFormatError):
        READER.read(page)


def test_malformed_lines_of_other_series_are_never_read() -> None:
    assert READER.read(b"# x\nunwanted{ one\nm 1\n")["m"] == [Sample(b"", 1.0)]


def test_reader_needs_names() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SeriesReader([])


def test_agrees_with_prometheus_client_on_a_vllm_page() -> None:
    """Every wanted series read from a realistic page equals the reference parser's."""
    page = EnginePage(
        model_names=("a", "b"),
        waiting=(1.0, 2.0),
        running=(3.0, 4.0),
        kv_usage=(0.25, 0.5),
        prefix_queries=(100.0, 200.0),
        prefix_hits=(10.0, 20.0),
        lora_label_sets=[("x", "", 1.0), ("x,y", "z", 2.0)],
    ).render()
    names = [
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prefix_cache_hits_total",
        "vllm:cache_config_info",
        "vllm:lora_requests_info",
        "vllm:request_success_total",
        "http_requests_total",
    ]
    ours = SeriesReader(names).read(page)
    reference: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name in names}
    for family in text_string_to_metric_families(page.decode()):
        for sample in family.samples:
            if sample.name in reference and math.isfinite(sample.value):
                reference[sample.name].append((dict(sample.labels), sample.value))
    assert {name: [(s.labels(), s.value) for s in ours[name]] for name in names} == reference
    assert all(reference.values())

"""The load generator: SSE parsing on bytes, then real simulated engines on loopback.

Assertions are about what was measured (present, consistent, counted), never about how
long anything took."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from loadtests.bench.cli import main
from loadtests.bench.loadgen import (
    LoadConfig,
    LoadResult,
    Progress,
    RequestResult,
    Sla,
    StreamMeter,
    run_load,
    summarize,
)
from loadtests.bench.trace import COMPLETIONS_PATH, TraceRecord, write_trace
from loadtests.fleet import Fleet, ManagedProcess, free_port

MODEL = "Qwen/Qwen2.5-7B-Instruct"
FAST = ["--time-scale", "20"]


def chat(
    offset: float, max_tokens: int = 8, text: str = "Hello there", **labels: str
) -> TraceRecord:
    body: dict[str, object] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
        "ignore_eos": True,
    }
    return TraceRecord(offset, body, **labels)  # type: ignore[arg-type]


def completion(offset: float, max_tokens: int = 8) -> TraceRecord:
    body: dict[str, object] = {
        "model": MODEL,
        "prompt": "Once upon a time",
        "max_tokens": max_tokens,
        "ignore_eos": True,
    }
    return TraceRecord(offset, body, path=COMPLETIONS_PATH)


# --- the SSE meter on bytes ---------------------------------------------------------------


def sse(*events: object) -> bytes:
    return b"".join(
        b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n"
        for e in events
    )


ROLE = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}


def content(text: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


USAGE = {
    "choices": [],
    "usage": {
        "prompt_tokens": 20,
        "completion_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 16},
    },
}


def feed(meter: StreamMeter, pieces: list[bytes]) -> StreamMeter:
    for now, piece in enumerate(pieces, start=1):
        meter.feed(piece, float(now))
    meter.close(float(len(pieces) + 1))
    return meter


def test_meter_times_content_chunks_not_the_role_chunk() -> None:
    pieces = [sse(ROLE), sse(content("A")), sse(content("")), sse(content("B")), sse(USAGE)]
    meter = feed(StreamMeter(), [*pieces, b"data: [DONE]\n\n"])
    assert meter.token_times == [2.0, 4.0]
    assert (meter.output_tokens, meter.prompt_tokens, meter.cached_tokens) == (3, 20, 16)
    assert meter.error is None


def test_meter_reassembles_events_split_across_reads_and_crlf() -> None:
    body = sse(ROLE, content("A"), content("B"), USAGE, b"[DONE]").replace(b"\n", b"\r\n")
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    meter = feed(StreamMeter(), pieces)
    assert len(meter.token_times) == 2
    assert meter.done
    assert meter.error is None


def test_meter_reads_completion_text_and_reasoning() -> None:
    text = {"choices": [{"index": 0, "text": " once"}]}
    reasoning = {"choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]}
    meter = feed(StreamMeter(), [sse(text), sse(reasoning), sse(b"[DONE]")])
    assert meter.token_times == [1.0, 2.0]
    assert meter.output_tokens == 2  # no usage chunk: counted chunks


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        pytest.param(sse(ROLE, content("A")), "incomplete_stream", id="no-done"),
        pytest.param(
            b'event: error\ndata: {"message": "boom"}\n\n' + sse(b"[DONE]"),
            "sse_error",
            id="error-event",
        ),
        pytest.param(sse({"error": {"message": "overloaded"}}, b"[DONE]"), "sse_error", id="obj"),
        pytest.param(sse(b"{not json", b"[DONE]"), "bad_sse", id="bad-json"),
    ],
)
def test_meter_flags_broken_streams(body: bytes, kind: str) -> None:
    assert feed(StreamMeter(), [body]).error == kind


def test_meter_reads_a_non_streamed_response() -> None:
    meter = StreamMeter()
    meter.whole(json.dumps({"choices": [], "usage": {"completion_tokens": 5}}).encode())
    assert (meter.output_tokens, meter.token_times, meter.error) == (5, [], None)


# --- aggregation --------------------------------------------------------------------------


def result(
    index: int, ttft: float | None, e2e: float, tokens: int, error: str | None = None
) -> RequestResult:
    gaps = (e2e - ttft) / (tokens - 1) if ttft is not None and tokens > 1 else 0.0
    return RequestResult(
        index=index,
        url="u",
        scheduled_s=float(index),
        lateness_s=0.0,
        status=200 if error is None else 500,
        error=error,
        ttft_s=ttft,
        e2e_s=e2e,
        itl_s=tuple([gaps] * max(tokens - 1, 0)),
        output_tokens=tokens,
        prompt_tokens=10,
        cached_tokens=None,
    )


def test_goodput_counts_requests_meeting_both_bounds() -> None:
    results = [
        result(0, ttft=0.5, e2e=1.5, tokens=11),  # TPOT 100 ms: meets
        result(1, ttft=2.5, e2e=3.0, tokens=11),  # TTFT too slow
        result(2, ttft=0.1, e2e=3.1, tokens=11),  # TPOT 300 ms
        result(3, ttft=0.2, e2e=0.2, tokens=1),  # one token: no TPOT, meets
        result(4, ttft=None, e2e=0.01, tokens=0, error="http_500"),
    ]
    summary = summarize(results, Sla(ttft_s=2.0, tpot_s=0.1))
    assert (summary.requests, summary.ok, summary.errors) == (5, 4, 1)
    assert summary.errors_by_kind == {"http_500": 1}
    assert summary.sla_met == 2
    assert summary.duration_s == pytest.approx(5.1)  # first send (0) to last end (2 + 3.1)
    assert summary.goodput == pytest.approx(2 / 5.1)
    assert summary.output_tokens == 34
    assert summary.tpot_ms.count == 3


def test_summary_of_nothing_is_json_safe() -> None:
    summary = summarize([], Sla())
    assert summary.requests == 0
    assert math.isnan(summary.ttft_ms.p50)


# --- against real simulated engines --------------------------------------------------------


@pytest.fixture
def tiny(fleet: Fleet) -> ManagedProcess:
    return fleet.start_sim(profile="tiny", extra_args=FAST)


async def test_measures_ttft_itl_and_usage(tiny: ManagedProcess) -> None:
    trace = [
        chat(i * 0.01, max_tokens=6 + i % 5, text=f"Question {i}", tag="chat") for i in range(20)
    ]
    seen: list[Progress] = []
    outcome = await run_load(trace, LoadConfig(urls=(tiny.url,)), seen.append)

    assert [r.index for r in outcome.requests] == list(range(20))
    for record, r in zip(trace, outcome.requests, strict=True):
        assert r.error is None, r.detail
        assert r.status == 200
        assert r.output_tokens == record.body["max_tokens"]
        assert r.prompt_tokens
        assert r.ttft_s is not None
        assert 0 < r.ttft_s <= r.e2e_s
        assert len(r.itl_s) == r.output_tokens - 1  # the simulator streams a chunk per token
        assert all(gap >= 0 for gap in r.itl_s)
        assert r.tpot_s is not None
        assert r.lateness_s >= 0
        assert r.tag == "chat"
    summary = outcome.summary
    assert (summary.requests, summary.ok, summary.errors) == (20, 20, 0)
    assert summary.output_tokens == sum(r.output_tokens for r in outcome.requests)
    assert summary.ttft_ms.count == 20
    assert summary.itl_ms.count == summary.output_tokens - 20
    assert 0 < summary.goodput <= summary.request_throughput
    assert set(outcome.by_tag) == {"chat"}
    assert outcome.client_cpu_s > 0
    assert seen[-1].finished == seen[-1].total == 20
    assert seen[-1].sent == 20


async def test_completions_are_measured_from_text_chunks(tiny: ManagedProcess) -> None:
    outcome = await run_load([completion(0.0), completion(0.01)], LoadConfig(urls=(tiny.url,)))
    for r in outcome.requests:
        assert r.error is None, r.detail
        assert r.ttft_s is not None
        assert r.output_tokens == 8


async def test_round_robin_over_several_urls(fleet: Fleet) -> None:
    engines = [fleet.start_sim(profile="instant") for _ in range(2)]
    config = LoadConfig(urls=tuple(e.url for e in engines))
    outcome = await run_load([chat(i * 0.001) for i in range(6)], config)
    assert outcome.summary.ok == 6
    urls = [r.url for r in outcome.requests]
    assert urls == [f"{engines[i % 2].url}/v1/chat/completions" for i in range(6)]


async def test_time_scale_and_warmup(fleet: Fleet) -> None:
    engine = fleet.start_sim(profile="instant")
    trace = [chat(offset) for offset in (0.0, 0.2, 0.4, 0.6)]
    config = LoadConfig(urls=(engine.url,), time_scale=4.0, warmup_s=0.1)
    outcome = await run_load(trace, config)
    assert [r.scheduled_s for r in outcome.requests] == [0.0, 0.05, 0.1, 0.15]
    assert [r.warmup for r in outcome.requests] == [True, True, False, False]
    assert outcome.summary.requests == 2


async def test_unreachable_url_counts_errors(fleet: Fleet) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    outcome = await run_load([chat(0.0), chat(0.01), chat(0.02)], LoadConfig(urls=(url,)))
    assert outcome.summary.errors == 3
    assert outcome.summary.errors_by_kind == {"connect": 3}
    assert all(r.status is None and r.ttft_s is None for r in outcome.requests)
    assert outcome.summary.goodput == 0
    json.dumps(outcome.to_json(), allow_nan=False)


async def test_http_errors_are_counted_by_status(fleet: Fleet) -> None:
    engine = fleet.start_sim(profile="instant", extra_args=["--fault-http-status", "503"])
    outcome = await run_load([chat(0.0), chat(0.01)], LoadConfig(urls=(engine.url,)))
    assert outcome.summary.errors_by_kind == {"http_503": 2}
    assert all(r.status == 503 and r.detail for r in outcome.requests)


async def test_a_stream_cut_midway_is_a_broken_stream(fleet: Fleet) -> None:
    engine = fleet.start_sim(profile="instant", extra_args=["--fault-cut-after-chunks", "3"])
    outcome = await run_load([chat(0.0, max_tokens=20)], LoadConfig(urls=(engine.url,)))
    (r,) = outcome.requests
    assert r.error == "broken_stream", r.detail
    assert r.status == 200
    assert r.ttft_s is not None  # the first tokens did arrive


async def test_the_body_is_forced_to_stream_with_usage(fleet: Fleet) -> None:
    engine = fleet.start_sim(profile="instant")
    record = chat(0.0)
    record.body["stream"] = False
    outcome = await run_load([record], LoadConfig(urls=(engine.url,)))
    (r,) = outcome.requests
    assert r.error is None
    assert r.ttft_s is not None
    assert r.output_tokens == 8
    assert "stream" not in chat(0.0).body  # the trace's records are not modified


def test_load_command_prints_and_writes_results(
    tiny: ManagedProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace, out = tmp_path / "trace.jsonl", tmp_path / "results.json"
    write_trace(trace, [chat(i * 0.01, tag="chat") for i in range(5)])
    assert main(["load", "--trace", str(trace), "--url", tiny.url, "--out", str(out)]) == 0
    assert "requests 5 (ok 5, errors 0)" in capsys.readouterr().out
    data = json.loads(out.read_text(), parse_constant=lambda name: pytest.fail(name))
    assert data["summary"]["ok"] == 5
    assert len(data["requests"]) == 5
    assert data["by_tag"]["chat"]["requests"] == 5


def test_load_result_json_has_no_nan(tmp_path: Path) -> None:
    empty = LoadResult((), Sla(), 1.0, 0.0, 0.0, 0.0, summarize([], Sla()), {}, ())
    text = json.dumps(empty.to_json(), allow_nan=False)
    assert '"p99": null' in text


async def test_a_request_past_its_timeout_is_a_timeout(fleet: Fleet) -> None:
    engine = fleet.start_sim(profile="instant", extra_args=["--fault-stall-first-byte", "60"])
    config = LoadConfig(urls=(engine.url,), request_timeout_s=0.2)
    outcome = await run_load([chat(0.0)], config)
    assert outcome.summary.errors_by_kind == {"timeout": 1}


async def test_records_may_be_a_lazy_stream(fleet: Fleet) -> None:
    engine = fleet.start_sim(profile="instant")
    seen: list[Progress] = []
    records = (chat(i * 0.001) for i in range(3))
    outcome = await run_load(records, LoadConfig(urls=(engine.url,)), seen.append)
    assert outcome.summary.ok == 3
    assert [p.total for p in seen] == [None] * 3


@pytest.mark.parametrize(
    ("trace_text", "extra", "message"),
    [
        pytest.param('{"offset": -1}\n', [], "t.jsonl:1: `offset`", id="bad-trace"),
        pytest.param("", ["--header", "no-equals"], "NAME=VALUE", id="bad-header"),
    ],
)
def test_load_command_reports_bad_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trace_text: str,
    extra: list[str],
    message: str,
) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text(trace_text)
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["load", "--trace", str(trace), "--url", url, *extra]) == 2
    assert message in capsys.readouterr().err

"""Each sink on its own: JSON lines (stdout, file, rotation), a Redis stream on a real
server (up, down, hung), span attributes with the SDK's in-memory exporter; and the queue
in front of the I/O sinks (bounded, never failing the caller, flushed at close)."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from redis.asyncio import Redis

from gateway.governance.builder import BuildOptions, build_record
from gateway.governance.interfaces import BatchWriter, SinkError
from gateway.governance.queued import QueuedSink
from gateway.governance.record import AuditRecord
from gateway.governance.sinks.jsonl import JsonlWriter
from gateway.governance.sinks.otel import OtelSink
from gateway.governance.sinks.redis_stream import RedisStreamWriter
from gateway.governance.spans import RequestSpans, current_trace_id
from loadtests.fleet import free_port
from loadtests.redis_server import RedisServer
from tests.gateway.governance.facts import answered, call

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()


def records(count: int, prefix: str = "r") -> list[AuditRecord]:
    base = build_record(answered(), BuildOptions(), now=100.5, wall_now=1.7e9)
    return [_with_id(base, f"{prefix}{index}") for index in range(count)]


def _with_id(record: AuditRecord, request_id: str) -> AuditRecord:
    fields = {name: getattr(record, name) for name in AuditRecord.__slots__}
    fields["request_id"] = request_id
    return AuditRecord(**fields)


def lines(path: Path) -> list[str]:
    return [orjson.loads(line)["request_id"] for line in path.read_bytes().splitlines()]


class FailingWriter(BatchWriter):
    def __init__(self) -> None:
        self.calls = 0

    @property
    def name(self) -> str:
        return "failing"

    async def write(self, records: Sequence[AuditRecord]) -> None:
        self.calls += 1
        raise SinkError("down")

    async def aclose(self) -> None:
        return None


# --- JSON lines ---------------------------------------------------------------------


async def test_jsonl_to_a_stream() -> None:
    stream = io.BytesIO()
    await JsonlWriter(None, stream=stream).write(records(2))
    assert [orjson.loads(line)["request_id"] for line in stream.getvalue().splitlines()] == [
        "r0",
        "r1",
    ]


async def test_jsonl_file_appends(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    writer = JsonlWriter(path)
    await writer.write(records(2, "a"))
    await writer.write(records(1, "b"))
    await writer.aclose()
    assert lines(path) == ["a0", "a1", "b0"]


@pytest.mark.parametrize("rotation", ["rename", "delete"])
async def test_jsonl_file_is_reopened_after_rotation(tmp_path: Path, rotation: str) -> None:
    path = tmp_path / "audit.jsonl"
    writer = JsonlWriter(path)
    await writer.write(records(2, "before"))
    if rotation == "rename":
        path.rename(tmp_path / "audit.jsonl.1")
    else:
        path.unlink()
    await writer.write(records(1, "after"))
    await writer.aclose()
    assert lines(path) == ["after0"]
    if rotation == "rename":
        assert lines(tmp_path / "audit.jsonl.1") == ["before0", "before1"]


async def test_jsonl_unwritable_path_is_a_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError):
        await JsonlWriter(tmp_path / "missing-dir" / "audit.jsonl").write(records(1))


# --- the queue ------------------------------------------------------------------------


async def test_queued_records_are_written_in_order_and_flushed_at_close(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = QueuedSink(JsonlWriter(path), batch_size=2)
    await sink.start()
    for record in records(3, "x"):
        sink.record(record)
    await sink.drained()
    assert lines(path) == ["x0", "x1", "x2"]
    for record in records(2, "y"):
        sink.record(record)
    await sink.aclose()  # no drain first: close writes what is queued
    assert lines(path) == ["x0", "x1", "x2", "y0", "y1"]
    assert sink.stats().written == 5
    assert sum(sink.stats().dropped.values()) == 0


async def test_a_failing_writer_drops_and_counts_and_never_raises() -> None:
    writer = FailingWriter()
    sink = QueuedSink(writer, batch_size=10, initial_backoff_s=0.01, max_backoff_s=0.01)
    await sink.start()
    for record in records(3):
        sink.record(record)  # returns at once, whatever the writer does
    await sink.drained()
    stats = sink.stats()
    assert (stats.written, stats.dropped["error"]) == (0, 3)
    await sink.aclose()


async def test_a_full_queue_drops_and_counts() -> None:
    sink = QueuedSink(FailingWriter(), capacity=2)  # not started: nothing drains
    for record in records(5):
        sink.record(record)
    assert sink.stats().dropped["queue_full"] == 3
    assert sink.stats().queued == 2
    await sink.aclose()
    assert sink.stats().dropped["shutdown"] == 2
    sink.record(records(1)[0])
    assert sink.stats().dropped["shutdown"] == 3  # closed: nothing is queued any more


# --- Redis stream ---------------------------------------------------------------------


async def test_redis_stream_appends_one_entry_per_record(redis_server: RedisServer) -> None:
    key = f"audit-{uuid.uuid4().hex[:8]}"
    writer = RedisStreamWriter.from_url(redis_server.url, key)
    await writer.write(records(3))
    await writer.aclose()
    client = Redis.from_url(redis_server.url)
    try:
        entries = await client.xrange(key)
    finally:
        await client.aclose()
    assert [fields[b"request_id"] for _, fields in entries] == [b"r0", b"r1", b"r2"]
    document = orjson.loads(entries[0][1][b"record"])
    assert document["schema"] == "kvgate.audit/v1"
    assert "text" not in document["prompt"]


async def test_redis_stream_is_bounded(redis_server: RedisServer) -> None:
    key = f"audit-{uuid.uuid4().hex[:8]}"
    writer = RedisStreamWriter.from_url(redis_server.url, key, max_len=10)
    for _ in range(10):
        await writer.write(records(100))
    await writer.aclose()
    client = Redis.from_url(redis_server.url)
    try:
        length = await client.xlen(key)
    finally:
        await client.aclose()
    assert 10 <= length < 1000  # MAXLEN ~ trims whole stream nodes, so roughly


async def test_redis_down_drops_and_counts() -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    sink = QueuedSink(
        RedisStreamWriter.from_url(down, "audit", timeout_s=0.2),
        initial_backoff_s=0.01,
        max_backoff_s=0.01,
    )
    await sink.start()
    for record in records(4):
        sink.record(record)
    await sink.drained()
    stats = sink.stats()
    assert (stats.written, stats.dropped["error"]) == (0, 4)
    await sink.aclose()


async def test_redis_hung_times_out_and_drops() -> None:
    with RedisServer() as server:
        server.pause()
        sink = QueuedSink(
            RedisStreamWriter.from_url(server.url, "audit", timeout_s=0.2),
            initial_backoff_s=0.01,
            max_backoff_s=0.01,
        )
        await sink.start()
        sink.record(records(1)[0])
        await sink.drained()
        assert sink.stats().dropped["error"] == 1
        await sink.aclose()


# --- OpenTelemetry --------------------------------------------------------------------


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_otel_sets_the_record_on_the_request_span() -> None:
    provider, exporter = _provider()
    spans = RequestSpans(provider)
    [record] = records(1)
    with spans.trace(call(received_at=_loop_time())):
        OtelSink().record(record)
    [span] = exporter.get_finished_spans()
    assert span.name == "POST /v1/chat/completions"
    assert span.kind is SpanKind.SERVER
    attributes = dict(span.attributes or {})
    assert attributes["kvgate.request_id"] == "r0"
    assert attributes["gen_ai.request.model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert attributes["kvgate.model.version"] == "/models/qwen@rev-7"
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["kvgate.prompt.sha256"] == record.prompt_hash
    assert not any("text" in name for name in attributes)
    provider.shutdown()


async def test_otel_span_joins_the_client_trace_and_marks_server_errors() -> None:
    provider, exporter = _provider()
    spans = RequestSpans(provider)
    client_call = call(received_at=_loop_time())
    client_call.headers.append((b"traceparent", TRACEPARENT))
    base = build_record(answered(status=502), BuildOptions(), now=100.5, wall_now=1.7e9)
    with spans.trace(client_call):
        assert current_trace_id() == TRACE_ID
        OtelSink().record(base)
    [span] = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.status.status_code is StatusCode.ERROR
    provider.shutdown()


async def test_otel_does_nothing_without_a_recording_span() -> None:
    OtelSink().record(records(1)[0])  # no span: no error, nothing to see
    assert current_trace_id() is None


def _loop_time() -> float:
    return asyncio.get_running_loop().time()

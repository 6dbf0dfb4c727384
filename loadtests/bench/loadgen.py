"""Open-loop load generator: replay a trace against a router and measure every stream.

Each record is sent at its trace offset (divided by `time_scale`) whether or not earlier
requests have finished, so an overloaded router shows up as growing latency rather than as
a slower client. Requests go to one base URL, or round-robin over several (the `direct`
baseline: the client spreads over the engines). All requests share one `aiohttp` session:
measured against an `instant` engine at 150 requests/s it costs ~1.3 ms of client CPU per
streamed request where `httpx` cost ~4.5 ms and fell behind its own schedule.

Measured per request, in seconds from the moment the request is handed to the HTTP client:
- `ttft_s`: until the first SSE chunk carrying generated text — non-empty `delta.content`
  (or `delta.reasoning_content`/`delta.reasoning`) for chat, `text` for completions; the
  role-only first chunk does not count;
- `itl_s`: the gaps between consecutive such chunks (chunks that arrive in one network read
  share a timestamp, so a gap can be 0);
- `e2e_s`: until the end of the response;
- `output_tokens`, `prompt_tokens`, `cached_tokens`: from the usage chunk (the client asks
  for it with `stream_options.include_usage`);
- `lateness_s`: how long after its scheduled time the request was actually sent — large
  values mean the client, not the router, was the bottleneck;
- `error`: `None`, or one of `http_<status>`, `connect`, `timeout`, `broken_stream` (the
  connection broke mid-response), `incomplete_stream` (no `[DONE]`), `sse_error` (an error
  event or object in the stream), `bad_sse` (undecodable data), `transport`.
The client's own CPU time (`time.process_time()` over the run) is reported with the results.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence, Sized
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field

import aiohttp

from loadtests.bench.sse import StreamMeter as StreamMeter  # re-exported: tests import it here
from loadtests.bench.stats import Summary
from loadtests.bench.trace import JSONObject, TraceRecord


@dataclass(frozen=True)
class Sla:
    """A request meets the SLA if TTFT ≤ `ttft_s` and time per output token ≤ `tpot_s`."""

    ttft_s: float = 2.0
    tpot_s: float = 0.1


@dataclass(frozen=True)
class LoadConfig:
    """How to replay. Timeouts in seconds; `read_timeout_s` bounds each wait for bytes."""

    urls: tuple[str, ...]
    time_scale: float = 1.0  # 2.0 replays twice as fast
    sla: Sla = Sla()
    warmup_s: float = 0.0  # requests scheduled earlier are sent but left out of the summary
    force_stream: bool = True  # set stream + include_usage in every body
    model: str | None = None  # replaces every body's `model`
    headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 300.0
    request_timeout_s: float = 900.0
    max_connections: int = 4096

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("at least one URL is needed")
        if not self.time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {self.time_scale}")


@dataclass(frozen=True)
class RequestResult:
    index: int
    url: str
    scheduled_s: float  # when it was due, seconds after the start of the run
    lateness_s: float
    status: int | None  # HTTP status; None if no response
    error: str | None
    ttft_s: float | None
    e2e_s: float
    itl_s: tuple[float, ...]
    output_tokens: int
    prompt_tokens: int | None
    cached_tokens: int | None
    tag: str | None = None
    group: str | None = None
    session: str | None = None
    warmup: bool = False
    detail: str | None = None  # the error's message or the start of an error body

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def tpot_s(self) -> float | None:
        """Time per output token after the first (vLLM's TPOT); None below two tokens."""
        if self.ttft_s is None or self.output_tokens < 2:
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)

    def meets(self, sla: Sla) -> bool:
        tpot = self.tpot_s
        return (
            self.ok
            and self.ttft_s is not None
            and self.ttft_s <= sla.ttft_s
            and (tpot is None or tpot <= sla.tpot_s)
        )


@dataclass(frozen=True)
class LoadSummary:
    """Aggregate of the measured (non-warm-up) requests; latencies in milliseconds."""

    requests: int
    ok: int
    errors: int
    errors_by_kind: dict[str, int]
    duration_s: float  # first send to last response end
    request_throughput: float  # successful requests per second
    output_token_throughput: float
    goodput: float  # requests per second meeting the SLA
    sla_met: int
    prompt_tokens: int
    output_tokens: int
    cached_tokens: int
    ttft_ms: Summary
    tpot_ms: Summary
    itl_ms: Summary
    e2e_ms: Summary
    lateness_ms: Summary


@dataclass(frozen=True)
class LoadResult:
    urls: tuple[str, ...]
    sla: Sla
    time_scale: float
    wall_s: float
    client_cpu_s: float
    client_cpu_ms_per_request: float
    summary: LoadSummary
    by_tag: dict[str, LoadSummary]
    requests: tuple[RequestResult, ...]

    def to_json(self, include_requests: bool = True) -> JSONObject:
        """A JSON-safe dict (NaN becomes null); per-request records only if asked."""
        data = asdict(self)
        if not include_requests:
            del data["requests"]
        cleaned = _finite(data)
        assert isinstance(cleaned, dict)
        return cleaned


@dataclass(frozen=True)
class Progress:
    sent: int
    finished: int
    errors: int
    total: int | None  # None when the records are a stream of unknown length
    elapsed_s: float


ProgressCallback = Callable[[Progress], None]


def summarize(results: Sequence[RequestResult], sla: Sla) -> LoadSummary:
    """Aggregate `results` (all of them: filter warm-up first)."""
    ok = [r for r in results if r.ok]
    starts = [r.scheduled_s + r.lateness_s for r in results]
    ends = [start + r.e2e_s for start, r in zip(starts, results, strict=True)]
    duration = max(ends) - min(starts) if results else 0.0
    output = sum(r.output_tokens for r in ok)
    met = sum(r.meets(sla) for r in results)

    def per_second(count: float) -> float:
        return count / duration if duration > 0 else 0.0

    return LoadSummary(
        requests=len(results),
        ok=len(ok),
        errors=len(results) - len(ok),
        errors_by_kind=dict(Counter(r.error for r in results if r.error is not None)),
        duration_s=duration,
        request_throughput=per_second(len(ok)),
        output_token_throughput=per_second(output),
        goodput=per_second(met),
        sla_met=met,
        prompt_tokens=sum(r.prompt_tokens or 0 for r in ok),
        output_tokens=output,
        cached_tokens=sum(r.cached_tokens or 0 for r in ok),
        ttft_ms=_ms(r.ttft_s for r in ok),
        tpot_ms=_ms(r.tpot_s for r in ok),
        itl_ms=_ms(gap for r in ok for gap in r.itl_s),
        e2e_ms=_ms(r.e2e_s for r in ok),
        lateness_ms=_ms(r.lateness_s for r in results),
    )


async def run_load(
    records: Iterable[TraceRecord],
    config: LoadConfig,
    progress: ProgressCallback | None = None,
) -> LoadResult:
    """Replay `records` (in offset order) open-loop and measure every response."""
    total = len(records) if isinstance(records, Sized) else None
    async with _session(config) as session:
        replay = _Replay(session, config, total, progress)
        cpu = time.process_time()
        await replay.run(records)
        cpu = time.process_time() - cpu
    results = tuple(sorted(replay.results, key=lambda r: r.index))
    measured = [r for r in results if not r.warmup]
    tags = sorted({r.tag for r in measured if r.tag is not None})
    return LoadResult(
        urls=config.urls,
        sla=config.sla,
        time_scale=config.time_scale,
        wall_s=replay.wall_s,
        client_cpu_s=cpu,
        client_cpu_ms_per_request=cpu * 1000 / len(results) if results else 0.0,
        summary=summarize(measured, config.sla),
        by_tag={tag: summarize([r for r in measured if r.tag == tag], config.sla) for tag in tags},
        requests=results,
    )


@asynccontextmanager
async def _session(config: LoadConfig) -> AsyncIterator[aiohttp.ClientSession]:
    # Waiting for a free connection is client queueing: bounded only by the request timeout.
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=config.connect_timeout_s, sock_read=config.read_timeout_s
    )
    connector = aiohttp.TCPConnector(limit=config.max_connections, limit_per_host=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False
    ) as session:
        yield session


@dataclass(frozen=True)
class _Prepared:
    index: int
    record: TraceRecord
    url: str
    content: bytes
    headers: dict[str, str]
    due: float  # seconds after the start


@dataclass(frozen=True)
class _Outcome:
    error: str | None = None
    detail: str | None = None

    @classmethod
    def failed(cls, kind: str, exc: BaseException) -> _Outcome:
        return cls(kind, f"{type(exc).__name__}: {exc}")


class _Replay:
    """One run: the dispatcher loop and the in-flight requests it owns."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: LoadConfig,
        total: int | None,
        progress: ProgressCallback | None,
    ) -> None:
        self._session = session
        self._config = config
        self._total = total
        self._progress = progress
        self._urls = itertools.cycle(config.urls)
        self._start = 0.0
        self._sent = 0
        self._errors = 0
        self.results: list[RequestResult] = []
        self.wall_s = 0.0

    async def run(self, records: Iterable[TraceRecord]) -> None:
        self._start = time.perf_counter()
        async with asyncio.TaskGroup() as tasks:
            for index, record in enumerate(records):
                request = self._prepare(index, record)  # before waiting: keeps lateness low
                delay = self._start + request.due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.create_task(self._send(request))
                self._sent += 1
        self.wall_s = time.perf_counter() - self._start

    def _prepare(self, index: int, record: TraceRecord) -> _Prepared:
        body = dict(record.body)
        if self._config.force_stream:
            options = body.get("stream_options")
            options = dict(options) if isinstance(options, dict) else {}
            body["stream"] = True
            body["stream_options"] = {**options, "include_usage": True}
        if self._config.model is not None:
            body["model"] = self._config.model
        headers = {"content-type": "application/json", **self._config.headers, **record.headers}
        return _Prepared(
            index=index,
            record=record,
            url=next(self._urls).rstrip("/") + record.path,
            content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
            headers=headers,
            due=record.offset / self._config.time_scale,
        )

    async def _send(self, request: _Prepared) -> None:
        sent = time.perf_counter()
        meter = StreamMeter()
        try:
            async with asyncio.timeout(self._config.request_timeout_s):
                outcome = await self._exchange(request, meter)
        except TimeoutError as exc:  # includes aiohttp's socket timeouts
            outcome = _Outcome.failed("timeout", exc)
        except aiohttp.ClientConnectorError as exc:
            outcome = _Outcome.failed("connect", exc)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            outcome = _Outcome.failed("broken_stream", exc)
        except aiohttp.ClientError as exc:
            outcome = _Outcome.failed("transport", exc)
        self._finish(request, sent, time.perf_counter(), outcome, meter)

    async def _exchange(self, request: _Prepared, meter: StreamMeter) -> _Outcome:
        post = self._session.post(request.url, data=request.content, headers=request.headers)
        async with post as response:
            meter.status = response.status
            if response.status != 200:
                text = (await response.read())[:300].decode(errors="replace")
                return _Outcome(f"http_{response.status}", text)
            if response.content_type == "text/event-stream":
                async for data in response.content.iter_any():
                    meter.feed(data, time.perf_counter())
                meter.close(time.perf_counter())
            else:
                meter.whole(await response.read())
        return _Outcome(meter.error, meter.error_detail)

    def _finish(
        self, request: _Prepared, sent: float, end: float, outcome: _Outcome, meter: StreamMeter
    ) -> None:
        record = request.record
        times = meter.token_times
        result = RequestResult(
            index=request.index,
            url=request.url,
            scheduled_s=request.due,
            lateness_s=max(0.0, sent - (self._start + request.due)),
            status=meter.status,
            error=outcome.error,
            ttft_s=times[0] - sent if times else None,
            e2e_s=end - sent,
            itl_s=tuple(b - a for a, b in itertools.pairwise(times)),
            output_tokens=meter.output_tokens,
            prompt_tokens=meter.prompt_tokens,
            cached_tokens=meter.cached_tokens,
            tag=record.tag,
            group=record.group,
            session=record.session,
            warmup=request.due < self._config.warmup_s,
            detail=outcome.detail,
        )
        self.results.append(result)
        self._errors += not result.ok
        if self._progress is not None:
            elapsed = time.perf_counter() - self._start
            self._progress(
                Progress(self._sent, len(self.results), self._errors, self._total, elapsed)
            )


def format_summary(result: LoadResult) -> str:
    """A few lines for a terminal: throughput, goodput, latency percentiles, errors."""
    s = result.summary
    lines = [
        f"requests {s.requests} (ok {s.ok}, errors {s.errors}) in {s.duration_s:.1f} s; "
        f"{s.request_throughput:.2f} req/s, {s.output_token_throughput:.0f} output tok/s",
        f"goodput {s.goodput:.2f} req/s ({s.sla_met}/{s.requests} met TTFT ≤ "
        f"{result.sla.ttft_s * 1000:.0f} ms, TPOT ≤ {result.sla.tpot_s * 1000:.0f} ms)",
    ]
    for name, summary in (
        ("TTFT", s.ttft_ms),
        ("TPOT", s.tpot_ms),
        ("ITL", s.itl_ms),
        ("E2E", s.e2e_ms),
        ("late", s.lateness_ms),
    ):
        lines.append(
            f"{name:5} ms  p50 {summary.p50:9.2f}  p90 {summary.p90:9.2f}  p99 {summary.p99:9.2f}"
        )
    if s.errors_by_kind:
        lines.append(
            "errors: " + ", ".join(f"{k} {n}" for k, n in sorted(s.errors_by_kind.items()))
        )
    if s.cached_tokens:
        lines.append(f"cached prompt tokens {s.cached_tokens / max(s.prompt_tokens, 1):.1%}")
    lines.append(
        f"client CPU {result.client_cpu_s:.2f} s "
        f"({result.client_cpu_ms_per_request:.3f} ms/request)"
    )
    return "\n".join(lines)


def _ms(samples: Iterable[float | None]) -> Summary:
    return Summary.of([s * 1000 for s in samples if s is not None])


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value

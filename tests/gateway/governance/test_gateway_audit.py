"""Through the whole app in-process (fake engines behind a transport): every request,
answered or not, leaves exactly one audit record; headers carry version and prompt hash."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.types import Message, Scope

from gateway.api.openai_routes import ProxyRoute
from gateway.governance.stage import Governance
from gateway.state import GatewayState
from gateway.tokenize import get_chat_template
from gateway.types import RequestKind
from tests.gateway.fake_engine import MODEL, EngineFleet, FakeEngine, sse_chunks
from tests.gateway.harness import running_gateway, two_engines
from tests.gateway.integration.helpers import metric_sum

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "The secret is 42."}]}
RENDERED = get_chat_template("chatml").render(CHAT["messages"], add_generation_prompt=True)  # type: ignore[arg-type]


def audit_lines(path: Path) -> dict[str, dict[str, object]]:
    """Records by request id; fails on a request id seen twice."""
    records: dict[str, dict[str, object]] = {}
    for line in path.read_bytes().splitlines():
        record = orjson.loads(line)
        assert record["request_id"] not in records, f"two records for {record['request_id']}"
        records[record["request_id"]] = record
    return records


async def _post(
    client: httpx.AsyncClient, rid: str, body: object, authorization: str | None = None
) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"x-request-id": rid, "content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return await client.post("/v1/chat/completions", content=content, headers=headers)


async def test_every_request_leaves_exactly_one_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    engines = two_engines()
    settings = {"audit_sinks": (f"jsonl:{path}",), "max_body_bytes": 4096}
    statuses: dict[str, int] = {}
    async with running_gateway(engines, **settings) as (client, _):
        cases: list[tuple[str, object]] = [
            ("ok", {**CHAT, "temperature": 0.5, "max_tokens": 3}),
            ("stream", {**CHAT, "stream": True, "stream_options": {"include_usage": True}}),
            ("bad-json", b"{not json"),
            ("unknown-model", {**CHAT, "model": "no-such-model"}),
            ("too-large", {**CHAT, "padding": "x" * 8192}),
        ]
        for rid, body in cases:
            statuses[rid] = (await _post(client, rid, body)).status_code
        for engine in engines.engines:
            engine.reachable = False
        statuses["engines-down"] = (await _post(client, "engines-down", CHAT)).status_code
    assert statuses == {
        "ok": 200,
        "stream": 200,
        "bad-json": 400,
        "unknown-model": 404,
        "too-large": 413,
        "engines-down": 502,
    }
    records = audit_lines(path)
    assert set(records) == set(statuses)
    for rid, record in records.items():
        assert record["status"] == statuses[rid], rid
        assert record["schema"] == "kvgate.audit/v1"
        assert "text" not in record["prompt"], rid  # type: ignore[operator]
    assert b"The secret is 42" not in path.read_bytes()
    ok, stream = records["ok"], records["stream"]
    assert ok["prompt"] == {
        "sha256": hashlib.sha256(RENDERED.encode()).hexdigest(),
        "source": "template",
        "tokens": ok["prompt"]["tokens"],  # type: ignore[index]
    }
    assert ok["sampling"] == {"temperature": 0.5, "max_tokens": 3}
    assert ok["model"]["version"] == MODEL  # type: ignore[index]  # the fake engine's root
    assert ok["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "cached_tokens": None}
    assert ok["routing"]["class"] == "chat"  # type: ignore[index]
    assert ok["engine"] in {e.host for e in engines.engines}
    timings = ok["timings_ms"]
    assert isinstance(timings, dict)
    assert 0 <= timings["queue"] <= timings["ttft"] <= timings["total"]
    assert stream["stream"] is True
    assert stream["usage"]["completion_tokens"] == 3  # type: ignore[index]
    assert records["bad-json"]["prompt"]["sha256"] is None  # type: ignore[index]
    assert records["unknown-model"]["error_code"] == "model_not_found"
    assert records["unknown-model"]["model"]["requested"] == "no-such-model"  # type: ignore[index]
    assert records["too-large"]["error_code"] == "request_too_large"
    assert records["engines-down"]["error_code"] == "upstream_unreachable"
    assert records["engines-down"]["routing"]["attempts"] == 2  # type: ignore[index]


async def test_headers_carry_model_version_and_prompt_hash(tmp_path: Path) -> None:
    backends = tmp_path / "backends.yaml"
    backends.write_text(
        "backends:\n  - url: http://127.0.0.1:18001\n    labels: {model-revision: sha256-abc}\n"
    )
    engines = EngineFleet([FakeEngine("http://127.0.0.1:18001")])
    path = tmp_path / "audit.jsonl"
    settings = {"backends": (), "backends_file": backends, "audit_sinks": (f"jsonl:{path}",)}
    async with running_gateway(engines, **settings) as (client, _):
        plain = await _post(client, "plain", CHAT)
        streamed = await _post(client, "streamed", {**CHAT, "stream": True})
    digest = hashlib.sha256(RENDERED.encode()).hexdigest()
    for response in (plain, streamed):
        assert response.headers["x-kvgate-model-version"] == f"{MODEL}@sha256-abc"
        assert response.headers["x-kvgate-prompt-hash"] == digest
    records = audit_lines(path)
    assert records["plain"]["model"]["revision"] == "sha256-abc"  # type: ignore[index]
    assert records["streamed"]["prompt"]["sha256"] == digest  # type: ignore[index]


async def test_headers_can_be_turned_off(tmp_path: Path) -> None:
    policy = tmp_path / "governance.yaml"
    policy.write_text("responseHeaders: {enabled: false}\n")
    async with running_gateway(two_engines(), governance_file=policy) as (client, _):
        response = await _post(client, "r", CHAT)
    assert "x-kvgate-model-version" not in response.headers
    assert "x-kvgate-prompt-hash" not in response.headers


async def test_prompt_text_only_when_the_policy_says_so(tmp_path: Path) -> None:
    policy, path = tmp_path / "governance.yaml", tmp_path / "audit.jsonl"
    sink = f"{{type: jsonl, parameters: {{path: '{path}'}}}}"
    policy.write_text(f"audit:\n  recordPromptText: true\n  sinks: [{sink}]\n")
    async with running_gateway(two_engines(), governance_file=policy) as (client, _):
        await _post(client, "r", CHAT)
    assert audit_lines(path)["r"]["prompt"]["text"] == RENDERED  # type: ignore[index]


async def test_tenant_is_recorded_never_the_key(tmp_path: Path) -> None:
    keys, path = tmp_path / "keys", tmp_path / "audit.jsonl"
    keys.write_text("sk-live-0123456789\n")
    settings = {"api_key_file": keys, "audit_sinks": (f"jsonl:{path}",)}
    async with running_gateway(two_engines(), **settings) as (client, _):
        denied = await _post(client, "denied", CHAT)
        allowed = await _post(client, "allowed", CHAT, "Bearer sk-live-0123456789")
    assert (denied.status_code, allowed.status_code) == (401, 200)
    records = audit_lines(path)
    assert records["denied"]["tenant"] == "anonymous"
    assert records["allowed"]["tenant"] == hashlib.sha256(b"sk-live-0123456789").hexdigest()[:8]
    assert b"sk-live" not in path.read_bytes()


async def test_an_engine_dying_mid_stream_is_recorded_as_such(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    engines = EngineFleet([FakeEngine("http://127.0.0.1:18001", cut_after=2)])
    async with running_gateway(engines, audit_sinks=(f"jsonl:{path}",)) as (client, _):
        response = await _post(client, "cut", {**CHAT, "stream": True})
    assert response.status_code == 200
    record = audit_lines(path)["cut"]
    assert (record["status"], record["error_code"]) == (502, "upstream_disconnected")
    assert record["finish_reasons"] == []
    assert record["timings_ms"]["ttft"] is not None  # type: ignore[index]


async def test_answers_feed_the_output_monitor_metrics() -> None:
    finish = (
        b'data: {"model":"m","choices":[{"index":0,"delta":{"content":"."},'
        b'"finish_reason":"length"}]}\n\n'
    )
    chunks = sse_chunks(3)
    engines = EngineFleet(
        [FakeEngine("http://127.0.0.1:18001", stream_chunks=[*chunks[:-1], finish, chunks[-1]])]
    )
    async with running_gateway(engines) as (client, state):
        for index in range(3):
            await _post(client, f"r{index}", {**CHAT, "stream": True})
        await _governance(state).drained()
        metrics = (await client.get("/metrics")).text
    labels = {"model": MODEL, "version": MODEL, "window": "current"}
    assert metric_sum(metrics, "kvgate_output_window_requests", **labels) == 3
    assert metric_sum(metrics, "kvgate_output_finish_reason_ratio", reason="length", **labels) == 1
    assert metric_sum(metrics, "kvgate_output_tokens_ratio", bucket="16", **labels) == 1
    assert metric_sum(metrics, "kvgate_refusal_rate", **labels) == 0
    assert metric_sum(metrics, "kvgate_guard_trigger_rate", **labels) == 0
    assert metric_sum(metrics, "kvgate_output_monitor_observed_total") == 3


def _governance(state: GatewayState) -> Governance:
    audit = state.director._stages.audit
    assert isinstance(audit, Governance)
    return audit


class _LeavingClient:
    """ASGI receive/send of a client that leaves: before sending all of its body, or after
    the first streamed chunk."""

    def __init__(self, rid: str, *, before_body: bool) -> None:
        self.headers = [(b"x-request-id", rid.encode())]
        self._before_body = before_body
        self._body_sent = False
        self._left = asyncio.Event()

    async def receive(self) -> Message:
        if self._before_body:
            return {"type": "http.disconnect"}
        if not self._body_sent:
            self._body_sent = True
            body = orjson.dumps({**CHAT, "stream": True})
            return {"type": "http.request", "body": body, "more_body": False}
        await self._left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            self._left.set()


@pytest.mark.parametrize("before_body", [True, False], ids=["before-the-body", "mid-stream"])
async def test_a_client_leaving_is_recorded_once(tmp_path: Path, before_body: bool) -> None:
    path = tmp_path / "audit.jsonl"
    engine = FakeEngine("http://127.0.0.1:18001", chunk_delay_s=0.01)
    engine.stream_chunks = engine.stream_chunks * 20
    async with running_gateway(EngineFleet([engine]), audit_sinks=(f"jsonl:{path}",)) as (
        _,
        state,
    ):
        client = _LeavingClient("left", before_body=before_body)
        scope: Scope = {"type": "http", "method": "POST", "headers": client.headers}
        scope["state"] = {"kvgate": state}
        await asyncio.wait_for(
            ProxyRoute(RequestKind.CHAT)(scope, client.receive, client.send), timeout=10
        )
    record = audit_lines(path)["left"]
    assert (record["status"], record["error_code"]) == (499, "client_closed")
    assert (record["engine"] is None) is before_body

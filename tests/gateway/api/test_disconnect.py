"""A client hanging up mid-request cancels the upstream request (so the engine aborts)."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Scope

from gateway.api.openai_routes import ProxyRoute
from gateway.types import RequestKind
from tests.gateway.fake_engine import MODEL, EngineFleet, FakeEngine
from tests.gateway.harness import running_gateway

BODY = b'{"model": "%s", "stream": true, "messages": [{"role": "user", "content": "hi"}]}' % (
    MODEL.encode()
)


class HangingUpClient:
    """ASGI receive/send of a client that leaves after `leave_after` body chunks."""

    def __init__(self, leave_after: int) -> None:
        self.leave_after = leave_after
        self.sent: list[Message] = []
        self._left = asyncio.Event()
        self._body_sent = False
        if leave_after == 0:
            self._left.set()

    async def receive(self) -> Message:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await self._left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        chunks = [m for m in self.sent if m["type"] == "http.response.body"]
        if len(chunks) >= self.leave_after:
            self._left.set()


async def _call(client: HangingUpClient, state: dict[str, object]) -> None:
    scope: Scope = {"type": "http", "method": "POST", "headers": [], "state": state}
    await ProxyRoute(RequestKind.CHAT)(scope, client.receive, client.send)


async def test_disconnect_mid_stream_closes_the_upstream_stream() -> None:
    engine = FakeEngine("http://127.0.0.1:18001", chunk_delay_s=0.02)
    engine.stream_chunks = engine.stream_chunks * 50
    async with running_gateway(EngineFleet([engine])) as (_, gateway):
        client = HangingUpClient(leave_after=2)
        await asyncio.wait_for(_call(client, {"kvgate": gateway}), timeout=10)
        await asyncio.wait_for(engine.stream_closed.wait(), timeout=10)
        snapshot = gateway.datastore.snapshot()
        metrics = gateway.metrics.render().decode()
    sent_bodies = [m for m in client.sent if m["type"] == "http.response.body"]
    assert len(sent_bodies) < len(engine.stream_chunks)
    assert snapshot.endpoints[0].in_flight == 0
    assert 'status="499"' in metrics


async def test_disconnect_before_the_engine_answers() -> None:
    engine = FakeEngine("http://127.0.0.1:18001", head_delay_s=30)
    async with running_gateway(EngineFleet([engine])) as (_, gateway):
        client = HangingUpClient(leave_after=0)
        await asyncio.wait_for(_call(client, {"kvgate": gateway}), timeout=10)
        in_flight = gateway.datastore.snapshot().endpoints[0].in_flight
    assert client.sent == []
    assert in_flight == 0


async def test_a_finished_response_is_not_a_disconnect() -> None:
    engine = FakeEngine("http://127.0.0.1:18001")
    async with running_gateway(EngineFleet([engine])) as (_, gateway):
        client = HangingUpClient(leave_after=10_000)
        await asyncio.wait_for(_call(client, {"kvgate": gateway}), timeout=10)
        metrics = gateway.metrics.render().decode()
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert 'status="200"' in metrics

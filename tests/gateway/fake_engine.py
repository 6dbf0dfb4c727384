"""An `httpx.MockTransport` handler that answers like a vLLM engine, for unit tests.

Not a server: it is the transport seam under the gateway's upstream client. Each instance
is one engine at one base URL; `EngineFleet` dispatches by host.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import orjson

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def sse_chunks(count: int, *, usage: bool = False) -> list[bytes]:
    """A vLLM-like chat stream: role chunk, `count` content chunks, optional usage, [DONE]."""
    base = b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
    chunks = [
        b"data: " + base + b'"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
    ]
    for i in range(count):
        delta = b'"choices":[{"index":0,"delta":{"content":"t%d"}}]}' % i
        chunks.append(b"data: " + base + delta + b"\n\n")
    if usage:
        usage_block = b'"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":%d}}' % count
        chunks.append(b"data: " + base + usage_block + b"\n\n")
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def json_response(status: int, document: object, **headers: str) -> httpx.Response:
    """A response whose body is still to be read, as from a real connection (a `json=`
    response would arrive already consumed)."""
    body = orjson.dumps(document)
    headers |= {"content-type": "application/json", "content-length": str(len(body))}
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


@dataclass
class FakeEngine:
    url: str
    models: list[str] = field(default_factory=lambda: [MODEL])
    adapters: dict[str, str] = field(default_factory=dict)
    """LoRA adapter name → base model."""
    reachable: bool = True
    status: int = 200
    stream_chunks: list[bytes] = field(default_factory=lambda: sse_chunks(3, usage=True))
    cut_after: int | None = None
    """Raise a transport error after this many body chunks (an engine dying mid-stream)."""
    head_delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    received: list[httpx.Request] = field(default_factory=list)
    """Every request but `GET /metrics` (scraped in the background)."""
    waiting: int = 0
    running: int = 0
    kv_usage: float = 0.0
    stream_closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def host(self) -> str:
        return httpx.URL(self.url).netloc.decode()

    def posts(self) -> list[httpx.Request]:
        return [request for request in self.received if request.method == "POST"]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.reachable:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/metrics":
            return httpx.Response(200, text=self._metrics_page())
        self.received.append(request)
        if request.url.path == "/v1/models":
            return json_response(200, self._model_list())
        await asyncio.sleep(self.head_delay_s)
        if self.status != 200:
            error = {"error": {"message": "boom", "type": "X", "param": None, "code": self.status}}
            return json_response(self.status, error)
        body = orjson.loads(request.content)
        if body.get("stream"):
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream; charset=utf-8", "server": "uvicorn"},
                content=self._stream(request),
            )
        usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        answer = {"id": "chatcmpl-1", "object": "chat.completion", "choices": [], "usage": usage}
        return json_response(200, answer, connection="keep-alive")

    async def _stream(self, request: httpx.Request) -> AsyncIterator[bytes]:
        try:
            for index, chunk in enumerate(self.stream_chunks):
                if self.cut_after is not None and index >= self.cut_after:
                    raise httpx.RemoteProtocolError("peer closed connection", request=request)
                await asyncio.sleep(self.chunk_delay_s)
                yield chunk
        finally:
            self.stream_closed.set()

    def _metrics_page(self) -> str:
        labels = f'{{model_name="{self.models[0]}",engine="0"}}'
        return (
            f"vllm:num_requests_running{labels} {self.running}\n"
            f"vllm:num_requests_waiting{labels} {self.waiting}\n"
            f"vllm:kv_cache_usage_perc{labels} {self.kv_usage}\n"
        )

    def _model_list(self) -> dict[str, object]:
        cards: list[dict[str, object]] = [
            {"id": name, "object": "model", "owned_by": "vllm", "root": name, "parent": None}
            for name in self.models
        ]
        cards += [
            {"id": name, "object": "model", "owned_by": "vllm", "root": name, "parent": base}
            for name, base in self.adapters.items()
        ]
        return {"object": "list", "data": cards}


@dataclass
class EngineFleet:
    engines: list[FakeEngine]

    def __getitem__(self, index: int) -> FakeEngine:
        return self.engines[index]

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(engine.url for engine in self.engines)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        for engine in self.engines:
            if engine.host == request.url.netloc.decode():
                return await engine.handle(request)
        raise httpx.ConnectError("no such host", request=request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def all_posts(self) -> list[httpx.Request]:
        return [request for engine in self.engines for request in engine.posts()]

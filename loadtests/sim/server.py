"""The HTTP surface of one simulated vLLM engine (`create_app(settings)`).

The lifespan builds every long-lived object — tokenizer, planner, engine, ZMQ publisher,
metrics, faults — and tears them down in order (engine first, so streams end with "abort",
then the socket). Handlers read bodies as bytes, parse them with `protocol`, plan with
`prepare` and frame with `generation`/`framing`; nothing is pydantic on the token path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import zmq
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from gateway.tokenize import Tokenizer, get_chat_template, load_tokenizer
from loadtests.sim import embeddings
from loadtests.sim.engine.async_engine import AsyncEngine
from loadtests.sim.faults import FaultConfigError, FaultController
from loadtests.sim.framing import json_bytes
from loadtests.sim.generation import Run, complete, stream
from loadtests.sim.kv_events import KVEventPublisher, KVEventReplay
from loadtests.sim.metrics import CONTENT_TYPE, LoraActivity, SimMetrics, cache_config_labels
from loadtests.sim.models import ServedModels
from loadtests.sim.output import OutputPlanner
from loadtests.sim.prepare import GenerationPlan, Preparer, PromptLimits
from loadtests.sim.protocol import (
    SimHTTPError,
    bad_request,
    parse_body,
    parse_chat,
    parse_completion,
    parse_detokenize,
    parse_embedding,
    parse_tokenize,
)
from loadtests.sim.settings import SIM_VERSION, SimSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")
JSON = "application/json"


@dataclass
class SimRuntime:
    """Everything a request handler needs; built and torn down by the lifespan."""

    settings: SimSettings
    models: ServedModels
    tokenizer: Tokenizer
    preparer: Preparer
    engine: AsyncEngine
    metrics: SimMetrics
    faults: FaultController
    lora_activity: LoraActivity
    publisher: KVEventPublisher | None = None
    replay: KVEventReplay | None = None
    draining: bool = False
    _drain_task: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        return self.engine.running and not self.draining

    def begin_drain(self, grace_s: float) -> None:
        """Health turns 503 now; after `grace_s` the engine stops, so streams still open end
        with finish_reason "abort" and `[DONE]` instead of being cut by the server."""
        self.draining = True
        if self._drain_task is None:
            self._drain_task = asyncio.get_running_loop().create_task(self._stop_after(grace_s))

    async def _stop_after(self, grace_s: float) -> None:
        await asyncio.sleep(grace_s)
        await self.engine.stop()

    async def close(self) -> None:
        """Lifespan shutdown: the engine first (open streams end), then the socket."""
        self.draining = True
        if self._drain_task is not None:
            self._drain_task.cancel()
            await asyncio.gather(self._drain_task, return_exceptions=True)
        await self.engine.stop()
        if self.replay is not None:
            await self.replay.stop()
        if self.publisher is not None:
            self.publisher.close()


def _build_runtime(settings: SimSettings, context: zmq.Context[zmq.Socket[bytes]]) -> SimRuntime:
    tokenizer = load_tokenizer(settings.tokenizer)
    config = settings.engine_config()
    lora_activity = LoraActivity()
    publisher = None
    if settings.kv_events.active:
        publisher = KVEventPublisher(settings.kv_events, context=context)
    metrics = SimMetrics(
        model_name=settings.served_model_names[0],
        cache_config=cache_config_labels(
            block_size=config.block_size,
            num_gpu_blocks=config.num_gpu_blocks,
            enable_prefix_caching=config.enable_prefix_caching,
            overridden=settings.num_gpu_blocks_override is not None,
        ),
        max_loras=settings.max_loras if settings.lora_modules else None,
        lora_activity=lora_activity,
        extra_counters=(lambda: _publisher_counters(publisher)) if publisher else None,
    )
    engine = AsyncEngine(config, observers=[metrics], kv_event_sink=publisher)
    metrics.attach(engine.snapshot)
    preparer = Preparer(
        tokenizer=tokenizer,
        template=get_chat_template(settings.chat_template),
        planner=OutputPlanner(tokenizer, length_dist=settings.output_len),
        limits=PromptLimits(
            max_model_len=settings.max_model_len,
            vocab_size=tokenizer.vocab_size,
            priority_scheduling=settings.scheduling_policy == "priority",
            long_prompt_chars=settings.long_prompt_chars,
        ),
        seed=settings.seed,
        echo=settings.echo,
    )

    def apply_kv_drop(dropped: bool) -> None:
        if publisher is not None:
            publisher.set_dropped(dropped)

    def apply_slowdown(factor: float) -> None:
        engine.slowdown = factor

    faults = FaultController(
        settings.faults,
        apply_slowdown=apply_slowdown,
        apply_kv_drop=apply_kv_drop,
        seed=settings.seed,
    )
    replay = None
    if publisher is not None and settings.kv_events.replay_endpoint is not None:
        replay = KVEventReplay(
            publisher,
            settings.kv_events.replay_endpoint,
            bind_host=settings.kv_events.bind_host,
            context=context,
        )
    return SimRuntime(
        settings=settings,
        models=settings.served_models(),
        tokenizer=tokenizer,
        preparer=preparer,
        engine=engine,
        metrics=metrics,
        faults=faults,
        lora_activity=lora_activity,
        publisher=publisher,
        replay=replay,
    )


def _publisher_counters(publisher: KVEventPublisher) -> dict[str, float]:
    return {
        "kvgate_sim_kv_event_batches_published": publisher.published,
        "kvgate_sim_kv_event_batches_dropped": publisher.dropped,
    }


def create_app(settings: SimSettings) -> FastAPI:
    """The ASGI app of one simulated engine; its lifespan owns every long-lived object."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        try:
            # Loading a vocabulary takes ~0.4 s of CPU: keep the loop free meanwhile.
            runtime = await asyncio.to_thread(_build_runtime, settings, context)
        except BaseException:
            context.term()
            raise
        try:
            runtime.faults.apply()  # opens the KV-event socket unless it starts dropped
            if runtime.replay is not None:
                await runtime.replay.start()
            await runtime.engine.start()
            app.state.runtime = runtime
            yield
        finally:
            await runtime.close()
            context.term()

    app = FastAPI(title="kvgate-sim", version=SIM_VERSION, lifespan=lifespan, openapi_url=None)
    app.add_exception_handler(SimHTTPError, _error_response)  # type: ignore[arg-type]
    for path, handler, methods in _ROUTES:
        app.add_api_route(path, handler, methods=methods, response_model=None)
    return app


# --- helpers ------------------------------------------------------------------------------


def _runtime(request: Request) -> SimRuntime:
    runtime: SimRuntime = request.app.state.runtime
    return runtime


def _request_id(request: Request) -> str:
    return request.headers.get("x-request-id") or uuid.uuid4().hex


async def _error_response(request: Request, exc: SimHTTPError) -> Response:
    headers = {"X-Request-Id": value} if (value := request.headers.get("x-request-id")) else None
    return Response(exc.body(), status_code=exc.status, media_type=JSON, headers=headers)


def _json(payload: dict[str, object], headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes(payload), media_type=JSON, headers=headers)


async def _body(request: Request) -> dict[str, object]:
    return dict(parse_body(await request.body()))


async def _apply_faults(runtime: SimRuntime) -> int | None:
    """Injects the request-level faults; returns `cut_after_chunks` for streams."""
    faults = runtime.faults.current
    status = runtime.faults.draw_http_error(faults)
    if status is not None:
        raise SimHTTPError(status, f"Injected fault: HTTP {status}.")
    if faults.stall_first_byte_s > 0:
        await asyncio.sleep(faults.stall_first_byte_s)
    return faults.cut_after_chunks


async def _wait_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """Runs `work` and returns its result, or cancels it (None) if the client goes away."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_disconnect(request))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        return task.result() if task.done() else None
    finally:
        for pending in (task, watcher):
            pending.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)


def _check_engine(runtime: SimRuntime) -> None:
    if not runtime.healthy:
        raise SimHTTPError(503, "The engine is not running.")


async def _generate(
    request: Request,
    runtime: SimRuntime,
    plan: GenerationPlan,
    request_id: str,
    cut_after: int | None,
) -> Response:
    headers = {"X-Request-Id": request_id}
    run = Run(runtime.engine, plan, runtime.lora_activity)
    try:
        if plan.stream:
            body = stream(run, cut_after_chunks=cut_after)
            return StreamingResponse(body, media_type="text/event-stream", headers=headers)
        payload = await _unless_disconnected(request, complete(run))
    except ValueError as exc:  # the engine refused the request (e.g. an empty prompt)
        raise bad_request(str(exc)) from None
    except RuntimeError as exc:  # the engine is not running
        raise SimHTTPError(503, str(exc)) from None
    if payload is None:
        return Response(status_code=499)  # nobody is listening any more
    return _json(payload, headers)


# --- endpoints ----------------------------------------------------------------------------


async def chat_completions(request: Request) -> Response:
    runtime = _runtime(request)
    cut_after = await _apply_faults(runtime)
    parsed = parse_chat(await _body(request))
    model = runtime.models.resolve(parsed.model)
    _check_engine(runtime)
    request_id = _request_id(request)
    plan = await runtime.preparer.chat(parsed, model, f"chatcmpl-{request_id}")
    return await _generate(request, runtime, plan, request_id, cut_after)


async def completions(request: Request) -> Response:
    runtime = _runtime(request)
    cut_after = await _apply_faults(runtime)
    parsed = parse_completion(await _body(request))
    model = runtime.models.resolve(parsed.model)
    _check_engine(runtime)
    request_id = _request_id(request)
    plan = await runtime.preparer.completion(parsed, model, f"cmpl-{request_id}")
    return await _generate(request, runtime, plan, request_id, cut_after)


async def create_embeddings(request: Request) -> Response:
    runtime = _runtime(request)
    await _apply_faults(runtime)
    parsed = parse_embedding(await _body(request))
    model = runtime.models.resolve(parsed.model)
    dim = min(parsed.dimensions or runtime.settings.embedding_dim, runtime.settings.embedding_dim)
    data: list[dict[str, object]] = []
    total = 0
    for index, item in enumerate(parsed.inputs):
        tokens = await runtime.preparer.encode(item) if isinstance(item, str) else list(item)
        runtime.preparer.check_token_ids(tokens)
        if len(tokens) > runtime.settings.max_model_len:
            raise SimHTTPError(
                400,
                f"This model's maximum context length is {runtime.settings.max_model_len} "
                f"tokens. However, you requested {len(tokens)} tokens in the input for "
                "embedding generation. Please reduce the length of the input.",
                param="input_tokens",
            )
        total += len(tokens)
        vector = embeddings.embed(tokens, dim)
        encoded = embeddings.as_base64(vector) if parsed.encoding_format == "base64" else vector
        data.append({"index": index, "object": "embedding", "embedding": encoded})
    base = _request_id(request)
    return _json(
        {
            "id": f"embd-{base}",
            "object": "list",
            "created": int(time.time()),
            "model": model.name,
            "data": data,
            "usage": {"prompt_tokens": total, "total_tokens": total, "completion_tokens": 0},
        },
        {"X-Request-Id": base},
    )


async def list_models(request: Request) -> Response:
    return _json(_runtime(request).models.cards())


async def tokenize(request: Request) -> Response:
    runtime = _runtime(request)
    parsed = parse_tokenize(await _body(request))
    runtime.models.resolve(parsed.model)
    if parsed.messages is not None:
        text = runtime.preparer.render(
            parsed.messages, parsed.tools, add_generation_prompt=parsed.add_generation_prompt
        )
    else:
        text = parsed.prompt or ""
    tokens = await runtime.preparer.encode(text)
    token_strs = (
        [runtime.tokenizer.token_str(t) for t in tokens] if parsed.return_token_strs else None
    )
    return _json(
        {
            "count": len(tokens),
            "max_model_len": runtime.settings.max_model_len,
            "tokens": tokens,
            "token_strs": token_strs,
        }
    )


async def detokenize(request: Request) -> Response:
    runtime = _runtime(request)
    parsed = parse_detokenize(await _body(request))
    runtime.models.resolve(parsed.model)
    runtime.preparer.check_token_ids(parsed.tokens)
    return _json({"prompt": runtime.tokenizer.decode(parsed.tokens)})


async def health(request: Request) -> Response:
    return Response(status_code=200 if _runtime(request).healthy else 503)


async def version(request: Request) -> Response:
    return _json({"version": SIM_VERSION})


async def metrics(request: Request) -> Response:
    return Response(_runtime(request).metrics.render(), media_type=CONTENT_TYPE)


async def get_faults(request: Request) -> Response:
    return _json(_runtime(request).faults.current.as_json())


async def set_faults(request: Request) -> Response:
    runtime = _runtime(request)
    patch = await _body(request)
    try:
        faults = runtime.faults.update(patch)
    except FaultConfigError as exc:
        raise bad_request(str(exc)) from None
    logger.warning("faults changed: %s", faults)
    return _json(faults.as_json())


_Handler = Callable[[Request], Awaitable[Response]]
_ROUTES: tuple[tuple[str, _Handler, list[str]], ...] = (
    ("/v1/chat/completions", chat_completions, ["POST"]),
    ("/v1/completions", completions, ["POST"]),
    ("/v1/embeddings", create_embeddings, ["POST"]),
    ("/v1/models", list_models, ["GET"]),
    ("/tokenize", tokenize, ["POST"]),
    ("/detokenize", detokenize, ["POST"]),
    ("/health", health, ["GET"]),
    ("/version", version, ["GET"]),
    ("/metrics", metrics, ["GET"]),
    ("/_sim/faults", get_faults, ["GET"]),
    ("/_sim/faults", set_faults, ["POST"]),
)

"""`kvgate-sim`: one simulated vLLM engine on HTTP (`python -m loadtests.sim`).

Engine flags carry vLLM's names; the rest are the simulator's own. With no flags it serves
`Qwen/Qwen2.5-7B-Instruct` on 127.0.0.1:8000 with the `h100-llama3-8b` profile in real time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import math
import socket
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn
from fastapi import FastAPI

from loadtests.sim.engine.profiles import PROFILES, HardwareProfile
from loadtests.sim.faults import FaultConfigError, Faults
from loadtests.sim.generation import StreamCut
from loadtests.sim.kv_events import KVEventsSettings
from loadtests.sim.models import parse_lora_modules
from loadtests.sim.output import OutputLengthDist
from loadtests.sim.server import SimRuntime, create_app
from loadtests.sim.settings import DEFAULT_MODEL, SimSettings

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_EPILOG = """\
output length (--output-len-dist):
  max            every request generates max_tokens (finish_reason "length"); the default
  fixed:N        EOS after N tokens (finish_reason "stop") unless max_tokens comes first
  uniform:A:B    EOS after a uniformly drawn number of tokens in [A, B]
  geometric:P    EOS after each token with probability P
  Without max_tokens a request generates min(256, max_model_len - prompt tokens).
  min_tokens and ignore_eos are honoured; stop strings always apply.

faults (also at run time: POST /_sim/faults with a JSON object of these fields,
GET /_sim/faults to read them):
  http_status, http_status_rate, stall_first_byte_s, cut_after_chunks, slowdown,
  drop_kv_events. To refuse connections, stop the process.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvgate-sim",
        description="A simulated vLLM engine: vLLM's HTTP surface, prefix cache and scheduler.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server = parser.add_argument_group("server (vLLM flag names)")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=8000)
    server.add_argument("--served-model-name", nargs="+", default=[DEFAULT_MODEL])
    server.add_argument("--model", help="the model path reported as `root` (default: first name)")
    server.add_argument("--lora-modules", nargs="+", default=[], metavar="NAME=PATH")
    server.add_argument("--max-loras", type=int, default=1)
    server.add_argument(
        "--kv-events-config",
        metavar="JSON",
        help='vLLM KVEventsConfig, e.g. {"enable_kv_cache_events":true,"publisher":"zmq",'
        '"endpoint":"tcp://*:5557","topic":"kv-events"}, plus "encoding": "array" (v0.11) or '
        '"map" (v0.26+) and "bind_host" (where tcp://* binds; default 127.0.0.1)',
    )
    for flag in ("--enable-lora", "--enable-prompt-tokens-details", "--disable-log-requests"):
        server.add_argument(flag, action="store_true", help="accepted for vLLM compatibility")

    engine = parser.add_argument_group("engine (vLLM flag names)")
    engine.add_argument("--max-model-len", type=int, default=32768)
    engine.add_argument("--block-size", type=int, default=16)
    engine.add_argument("--num-gpu-blocks-override", type=int)
    engine.add_argument("--max-num-seqs", type=int)
    engine.add_argument("--max-num-batched-tokens", type=int)
    engine.add_argument("--scheduling-policy", choices=["fcfs", "priority"], default="fcfs")
    engine.add_argument(
        "--enable-prefix-caching", action=argparse.BooleanOptionalAction, default=True
    )
    engine.add_argument("--seed", type=int, default=0)

    sim = parser.add_argument_group("simulator")
    sim.add_argument("--profile", choices=sorted(PROFILES), default="h100-llama3-8b")
    sim.add_argument(
        "--profile-override",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a profile field, e.g. mem_bandwidth=2.0e12 (repeatable)",
    )
    sim.add_argument("--tokenizer", default="qwen2.5", help="tokenizer spec (default qwen2.5)")
    sim.add_argument("--chat-template", default="chatml", choices=["chatml", "llama3"])
    sim.add_argument("--time-scale", type=float, default=1.0, help="engine seconds per wall second")
    sim.add_argument("--output-len-dist", default="max", metavar="SPEC", help="see below")
    sim.add_argument("--echo", action="store_true", help="outputs repeat the prompt")
    sim.add_argument("--embedding-dim", type=int, default=384)
    sim.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sim.add_argument(
        "--shutdown-timeout",
        type=float,
        default=3.0,
        help="seconds to drain connections after SIGTERM before cancelling them",
    )

    faults = parser.add_argument_group("faults (initial values)")
    faults.add_argument("--fault-http-status", type=int, metavar="STATUS")
    faults.add_argument("--fault-http-status-rate", type=float, default=1.0, metavar="P")
    faults.add_argument("--fault-stall-first-byte", type=float, default=0.0, metavar="SECONDS")
    faults.add_argument("--fault-cut-after-chunks", type=int, metavar="N")
    faults.add_argument("--fault-slowdown", type=float, default=1.0, metavar="FACTOR")
    faults.add_argument("--fault-drop-kv-events", action="store_true")
    return parser


def _profile_overrides(items: Sequence[str]) -> tuple[tuple[str, float], ...]:
    kinds = {f.name: f.type for f in dataclasses.fields(HardwareProfile) if f.name != "name"}
    overrides: list[tuple[str, float]] = []
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or name not in kinds:
            raise ValueError(f"bad --profile-override {item!r}; fields: {sorted(kinds)}")
        number = int(raw) if kinds[name] in ("int", int) else float(raw)
        overrides.append((name, number))
    return tuple(overrides)


def settings_from_args(args: argparse.Namespace) -> SimSettings:
    """Validated settings; raises ValueError (or a subclass) with a readable message."""
    kv_events = KVEventsSettings()
    if args.kv_events_config:
        kv_events = KVEventsSettings.from_json(args.kv_events_config)
    faults = Faults(
        http_status=args.fault_http_status,
        http_status_rate=args.fault_http_status_rate,
        stall_first_byte_s=args.fault_stall_first_byte,
        cut_after_chunks=args.fault_cut_after_chunks,
        slowdown=args.fault_slowdown,
        drop_kv_events=args.fault_drop_kv_events,
    )
    if args.time_scale <= 0:
        raise ValueError("--time-scale must be positive")
    return SimSettings(
        host=args.host,
        port=args.port,
        served_model_names=tuple(args.served_model_name),
        model=args.model,
        profile=args.profile,
        profile_overrides=_profile_overrides(args.profile_override),
        tokenizer=args.tokenizer,
        chat_template=args.chat_template,
        max_model_len=args.max_model_len,
        block_size=args.block_size,
        num_gpu_blocks_override=args.num_gpu_blocks_override,
        max_num_seqs=args.max_num_seqs,
        max_num_batched_tokens=args.max_num_batched_tokens,
        scheduling_policy=args.scheduling_policy,
        enable_prefix_caching=args.enable_prefix_caching,
        time_scale=args.time_scale,
        kv_events=kv_events,
        lora_modules=parse_lora_modules(args.lora_modules),
        max_loras=args.max_loras,
        seed=args.seed,
        output_len=OutputLengthDist.parse(args.output_len_dist),
        echo=args.echo,
        embedding_dim=args.embedding_dim,
        faults=faults,
        shutdown_timeout=args.shutdown_timeout,
    )


class _HideStreamCuts(logging.Filter):
    """Keeps the deliberate `cut_after_chunks` aborts out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BaseExceptionGroup):
            return not exc.subgroup(StreamCut)
        return not isinstance(exc, StreamCut)


class _SimServer(uvicorn.Server):
    """Starts the app's drain (health 503, open streams aborted before the deadline) as soon
    as the shutdown signal arrives; uvicorn meanwhile stops accepting and waits for them."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, drain_grace_s: float) -> None:
        super().__init__(config)
        self._app = app
        self._drain_grace_s = drain_grace_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        runtime = getattr(self._app.state, "runtime", None)
        if isinstance(runtime, SimRuntime) and self._loop is not None:
            self._loop.call_soon_threadsafe(runtime.begin_drain, self._drain_grace_s)
        super().handle_exit(sig, frame)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    _loop: asyncio.AbstractEventLoop | None = None


def serve(settings: SimSettings, *, log_level: str = "info") -> None:
    logging.basicConfig(level=log_level.upper(), format=_LOG_FORMAT)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_timeout)),
    )
    logging.getLogger("uvicorn.error").addFilter(_HideStreamCuts())
    # Open streams are aborted a second before uvicorn's own deadline would cut them.
    _SimServer(config, app, max(0.0, settings.shutdown_timeout - 1.0)).run()


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except (ValueError, KeyError, FaultConfigError) as exc:
        parser.error(str(exc))
    serve(settings, log_level=args.log_level)


if __name__ == "__main__":
    main(sys.argv[1:])

"""`kvgate`: the gateway's command line. Flags override `KVGATE_*` environment variables."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from gateway import __version__
from gateway.auth.api_keys import ApiKeyFileError, read_key_file
from gateway.discovery.static import BackendsFileError, static_endpoints
from gateway.observability.logging import configure_logging
from gateway.routing.pickers import PICKERS
from gateway.server import build_server
from gateway.settings import GatewaySettings
from gateway.state import Readiness

_S = argparse.SUPPRESS  # an absent flag must not override the environment


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the gateway", argument_default=_S)
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to bind (default 8080)")
    p.add_argument(
        "--backend", dest="backends", action="append", metavar="URL", help="engine base URL; repeat"
    )
    p.add_argument("--backends-file", type=Path, metavar="YAML", help="engines listed in YAML")
    p.add_argument("--api-key-file", type=Path, help="API keys, one per line (default: open)")
    p.add_argument("--picker", choices=sorted(PICKERS), help="engine picker")
    p.add_argument("--max-body-bytes", type=int, help="largest request body accepted")
    p.add_argument("--connect-timeout", type=float, metavar="S")
    p.add_argument("--first-byte-timeout", type=float, metavar="S")
    p.add_argument("--idle-timeout", type=float, metavar="S", help="longest gap between chunks")
    p.add_argument("--total-timeout", type=float, metavar="S")
    p.add_argument("--upstream-client", choices=["aiohttp", "httpx"], help="engine HTTP client")
    p.add_argument("--upstream-max-connections", type=int)
    p.add_argument("--upstream-keepalive-expiry", type=float, metavar="S")
    p.add_argument("--retry-attempts", type=int, help="attempts per request, first included")
    p.add_argument("--refresh-interval", type=float, metavar="S", help="model/health refresh")
    p.add_argument("--refresh-timeout", type=float, metavar="S")
    p.add_argument("--drain-timeout", type=float, metavar="S", help="after SIGTERM (default 30)")
    p.add_argument("--shutdown-delay", type=float, metavar="S", help="not-ready grace period")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--access-log", action=argparse.BooleanOptionalAction)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvgate", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kvgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    return parser


def load_settings(flags: dict[str, object]) -> GatewaySettings:
    """Settings from the environment, overridden by the flags given; exits on bad input."""
    try:
        settings = GatewaySettings.model_validate(flags)
        endpoints = static_endpoints(settings.backends, settings.backends_file)
        if settings.api_key_file is not None:
            read_key_file(settings.api_key_file)
    except (ValidationError, BackendsFileError, ApiKeyFileError) as exc:
        sys.exit(f"kvgate: {exc}")
    if not endpoints:
        sys.exit("kvgate: no engines; pass --backend URL or --backends-file FILE")
    return settings


def serve(settings: GatewaySettings) -> None:
    configure_logging(settings.log_level)
    build_server(settings, Readiness()).run()


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    command = args.pop("command")
    if command == "serve":
        serve(load_settings(args))
    return 0

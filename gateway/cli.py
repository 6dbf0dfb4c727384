"""`kvgate`: the gateway's command line. Flags override `KVGATE_*` environment variables."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from gateway import __version__
from gateway.auth.api_keys import ApiKeyFileError, read_key_file
from gateway.config.loader import initial_policy
from gateway.config.models import PolicyError
from gateway.config.schema import render_schema
from gateway.discovery.kubernetes_api import ClusterAccessError, load_configuration
from gateway.discovery.kubernetes_config import DiscoveryConfigError
from gateway.discovery.static import BackendsFileError, static_endpoints
from gateway.governance.config import GovernancePolicyError
from gateway.governance.schema import render_governance_schema
from gateway.governance.setup import check_governance
from gateway.governance.sinks.registry import builtin_sinks
from gateway.lifespan import kubernetes_discovery_config
from gateway.observability.logging import configure_logging
from gateway.plugins.base import PluginDeps
from gateway.plugins.registry import builtin_registry
from gateway.prefix.memory import MemoryPrefixIndex
from gateway.routing.runtime import RuntimeOptions, build_runtime
from gateway.safety.registry import builtin_guards
from gateway.safety.schema import render_safety_schema, render_tenants_schema
from gateway.safety.setup import check_safety
from gateway.server import build_server
from gateway.settings import GatewaySettings
from gateway.state import Readiness
from gateway.tokenize import TokenizerError, load_tokenizer

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
    _kubernetes_flags(p)
    _routing_flags(p)
    _safety_flags(p)
    _governance_flags(p)
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


def _kubernetes_flags(p: argparse.ArgumentParser) -> None:
    k8s = p.add_argument_group(
        "kubernetes discovery", "engines from the EndpointSlices of Services (instead of --backend)"
    )
    k8s.add_argument(
        "--k8s-service",
        dest="k8s_services",
        action="append",
        metavar="[NS/]NAME[:PORT]",
        help="a Service fronting engines; PORT is a port name or number; repeat",
    )
    k8s.add_argument("--k8s-namespace", metavar="NS", help="default namespace (default: default)")
    k8s.add_argument(
        "--k8s-label-selector", metavar="SELECTOR", help="every Service with these labels"
    )
    k8s.add_argument(
        "--k8s-port", metavar="PORT", help="engine HTTP port name or number where none is named"
    )
    k8s.add_argument(
        "--kubeconfig", type=Path, metavar="PATH", help="outside a cluster (default: $KUBECONFIG)"
    )
    k8s.add_argument("--kube-context", metavar="NAME", help="kubeconfig context")
    k8s.add_argument(
        "--k8s-sync-timeout", type=float, metavar="S", help="wait for the first list (default 10)"
    )


def _routing_flags(p: argparse.ArgumentParser) -> None:
    routing = p.add_argument_group("routing")
    routing.add_argument(
        "--policy-file", type=Path, metavar="YAML", help="routing policy (default: built-in)"
    )
    routing.add_argument("--policy-poll-interval", type=float, metavar="S")
    routing.add_argument(
        "--routing-profile", metavar="NAME", help="route every class with this profile"
    )
    routing.add_argument(
        "--kv-aware-routing",
        action=argparse.BooleanOptionalAction,
        help="prefix lookups and scoring (env ENABLE_KV_AWARE_ROUTING)",
    )
    routing.add_argument(
        "--prompt-token-threshold",
        type=int,
        metavar="N",
        help="long_context above N prompt tokens (env PROMPT_TOKEN_THRESHOLD)",
    )
    routing.add_argument("--tokenizer", metavar="SPEC", help="qwen2.5 (default), hf:PATH, engine…")
    routing.add_argument("--chat-template", choices=["chatml", "llama3"])
    routing.add_argument(
        "--prefix-mode",
        choices=["approximate", "precise", "both"],
        help="prefix locality from routing decisions, engines' KV events, or both",
    )
    routing.add_argument("--block-size", type=int, help="tokens per prefix block (default 16)")
    routing.add_argument("--prefix-capacity", type=int, metavar="BLOCKS", help="per engine")
    routing.add_argument("--prefix-ttl", type=float, metavar="S")
    routing.add_argument(
        "--redis-url", metavar="URL", help="share the prefix index (redis://host:port/db)"
    )
    routing.add_argument("--redis-key-prefix", metavar="PREFIX")
    routing.add_argument(
        "--kv-events-endpoint",
        dest="kv_events_endpoints",
        action="append",
        metavar="URL=ADDR",
        help="an engine's KV-event publisher, e.g. http://h:8000=tcp://h:5557; repeat",
    )
    routing.add_argument("--kv-events-topic", metavar="TOPIC")
    routing.add_argument("--metrics-interval", type=float, metavar="S", help="engine scrapes")
    routing.add_argument("--metrics-timeout", type=float, metavar="S")
    routing.add_argument("--saturation-queue-threshold", type=int, metavar="N")
    routing.add_argument("--saturation-kv-threshold", type=float, metavar="F")


def _safety_flags(p: argparse.ArgumentParser) -> None:
    safety = p.add_argument_group("safety", "input and output guards, tenant allow-lists")
    safety.add_argument(
        "--safety-policy-file", type=Path, metavar="YAML", help="safety policy (default: built-in)"
    )
    safety.add_argument(
        "--tenants-file", type=Path, metavar="YAML", help="key ids → tenants and allow-lists"
    )


def _governance_flags(p: argparse.ArgumentParser) -> None:
    governance = p.add_argument_group("governance", "audit records and the output monitor")
    governance.add_argument(
        "--governance-file", type=Path, metavar="YAML", help="governance policy (default: built-in)"
    )
    governance.add_argument(
        "--audit-sink",
        dest="audit_sinks",
        action="append",
        metavar="SINK",
        help="jsonl:stdout, jsonl:PATH, redis-stream:KEY (with --redis-url) or otel; repeat",
    )
    governance.add_argument(
        "--tracing",
        action=argparse.BooleanOptionalAction,
        help="an OpenTelemetry server span per request",
    )


def _schema_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schema", help="print a policy file's JSON Schema")
    p.add_argument("--output", type=Path, metavar="PATH", help="write it here instead")
    p.add_argument(
        "--kind",
        choices=["routing", "safety", "tenants", "governance"],
        default="routing",
        help="which policy",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvgate", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kvgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _schema_parser(sub)
    return parser


def load_settings(flags: dict[str, object]) -> GatewaySettings:
    """Settings from the environment, overridden by the flags given; exits on bad input,
    including a routing policy that does not validate or build."""
    try:
        settings = GatewaySettings.model_validate(flags)
        endpoints = static_endpoints(settings.backends, settings.backends_file)
        kubernetes = kubernetes_discovery_config(settings)
        if kubernetes is not None:
            # Reads the kubeconfig or service account only; the API server is not called.
            asyncio.run(load_configuration(kubernetes.access))
        if settings.api_key_file is not None:
            read_key_file(settings.api_key_file)
        check_routing(settings)
        check_safety(settings)
        check_governance(settings)
    except (
        ValidationError,
        BackendsFileError,
        DiscoveryConfigError,
        ClusterAccessError,
        ApiKeyFileError,
        PolicyError,
        GovernancePolicyError,
    ) as exc:
        sys.exit(f"kvgate: {exc}")
    if endpoints and kubernetes is not None:
        sys.exit("kvgate: engines come from --backend/--backends-file or from Kubernetes, not both")
    if not endpoints and kubernetes is None:
        sys.exit(
            "kvgate: no engines; pass --backend URL, --backends-file FILE, "
            "--k8s-service NAME or --k8s-label-selector SELECTOR"
        )
    return settings


def check_routing(settings: GatewaySettings) -> None:
    """Build the routing runtime once, as the gateway will; raise `PolicyError`."""
    policy, _ = initial_policy(settings.policy_file)
    options = RuntimeOptions(
        kv_aware=settings.kv_aware_routing,
        prompt_token_threshold=settings.prompt_token_threshold,
        routing_profile=settings.routing_profile,
    )
    deps = PluginDeps(MemoryPrefixIndex(), settings.block_size)
    try:
        build_runtime(policy, builtin_registry(), deps, options)
    except PolicyError as exc:
        source = settings.policy_file or "built-in policy"
        raise PolicyError(f"{source}: {exc}") from None
    if settings.tokenizer != "engine":
        try:
            load_tokenizer(settings.tokenizer)
        except TokenizerError as exc:
            raise PolicyError(f"--tokenizer: {exc}") from None


def write_schema(output: Path | None, kind: str = "routing") -> None:
    if kind == "governance":
        text = render_governance_schema(builtin_sinks())
    elif kind == "safety":
        text = render_safety_schema(builtin_guards())
    elif kind == "tenants":
        text = render_tenants_schema()
    else:
        text = render_schema(builtin_registry())
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def serve(settings: GatewaySettings) -> None:
    configure_logging(settings.log_level)
    build_server(settings, Readiness()).run()


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    command = args.pop("command")
    if command == "serve":
        serve(load_settings(args))
    elif command == "schema":
        write_schema(args.get("output"), args.get("kind", "routing"))
    return 0

"""The `tenant-allowlist` guard: a key cannot ask for what its tenant's allow-list does not
grant (routes, models, the system role, tools, `max_tokens`, sampling bounds).

The allow-lists come from the tenants file (`gateway.safety.tenants`), read per request from
the directory in force; without a tenants file the guard allows everything. A request that
leaves `max_tokens` out while its tenant has a ceiling gets the ceiling set in its body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Literal

from gateway.errors import TenantPolicyError
from gateway.routing.request import InferenceRequest
from gateway.safety.base import GuardDeps, GuardParams, GuardPlugin
from gateway.safety.interfaces import CLEAN, GuardResult, GuardVerdict, RequestGuard
from gateway.safety.tenants import Allowlist, TenantDirectory, model_allowed
from gateway.safety.texts import Segment
from gateway.types import RequestKind

_SYSTEM_ROLES = frozenset({"system", "developer"})


class TenantAllowlistParams(GuardParams):
    action: Literal["block", "flag"] = "block"
    """`flag` records violations without refusing (to roll an allow-list out)."""


class TenantAllowlistGuard(GuardPlugin, RequestGuard):
    type_name: ClassVar[str] = "tenant-allowlist"
    stage = "input"
    Params = TenantAllowlistParams

    def __init__(self, name: str, params: TenantAllowlistParams, deps: GuardDeps) -> None:
        super().__init__(name, params, deps)
        self._action = params.action
        self._tenants: Callable[[], TenantDirectory] = deps.tenants

    def check(self, request: InferenceRequest, segments: Sequence[Segment]) -> GuardResult:
        allow = self._tenants().allowlist(request.tenant)
        if allow is None:
            return CLEAN
        violation = _violation(allow, request)
        if violation is None:
            return _ceiling(allow, request)
        reason, param, message = violation
        verdict = GuardVerdict(self.name, self._action, reason)
        if self._action == "flag":
            return GuardResult((verdict,))
        error = TenantPolicyError(
            f"Your API key's tenant is not allowed this request: {message}", param=param
        )
        return GuardResult((verdict,), refusal=error)


Violation = tuple[str, str, str]
"""Reason code, the offending body field, and what to tell the client."""


def _violation(allow: Allowlist, request: InferenceRequest) -> Violation | None:
    route = request.kind.route
    if allow.routes is not None and route not in allow.routes:
        return "route_not_allowed", "model", f"the `{route}` endpoint is not granted."
    if not model_allowed(allow, request.model):
        return "model_not_allowed", "model", f"the model `{request.model}` is not granted."
    if not allow.system_role and _has_system_message(request.messages):
        return (
            "system_role_not_allowed",
            "messages",
            "system and developer messages are not granted.",
        )
    if allow.tools is not None:
        for name in _tool_names(request.fields):
            if name not in allow.tools:
                return "tool_not_allowed", "tools", f"the tool `{name}` is not granted."
    ceiling = allow.max_tokens
    if ceiling is not None and request.max_tokens is not None and request.max_tokens > ceiling:
        return (
            "max_tokens_above_ceiling",
            "max_tokens",
            f"`max_tokens` {request.max_tokens} is above the ceiling of {ceiling}.",
        )
    for field, bounds in allow.sampling.items():
        value = request.fields.get(field)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            return "sampling_out_of_bounds", field, f"`{field}` must be a number."
        if (bounds.min is not None and value < bounds.min) or (
            bounds.max is not None and value > bounds.max
        ):
            return (
                "sampling_out_of_bounds",
                field,
                f"`{field}` {value} is outside {_range(bounds.min, bounds.max)}.",
            )
    return None


def _ceiling(allow: Allowlist, request: InferenceRequest) -> GuardResult:
    if (
        allow.max_tokens is None
        or request.max_tokens is not None
        or request.kind is RequestKind.EMBEDDING
    ):
        return CLEAN
    return GuardResult(set_fields={"max_tokens": allow.max_tokens})


def _has_system_message(messages: Sequence[object] | None) -> bool:
    return any(
        isinstance(message, Mapping) and message.get("role") in _SYSTEM_ROLES
        for message in messages or ()
    )


def _tool_names(fields: Mapping[str, object]) -> list[str]:
    """Function names declared (`tools`, legacy `functions`) or forced (`tool_choice`,
    `function_call`). A declared tool without a readable name counts as `?`."""
    names: list[str] = []
    for tool in _list(fields.get("tools")):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        names.append(_name(function))
    for function in _list(fields.get("functions")):
        names.append(_name(function))
    for choice in (fields.get("tool_choice"), fields.get("function_call")):
        if isinstance(choice, Mapping):
            inner = choice.get("function", choice)
            names.append(_name(inner))
    return names


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _name(function: object) -> str:
    name = function.get("name") if isinstance(function, Mapping) else None
    return name if isinstance(name, str) else "?"


def _range(low: float | None, high: float | None) -> str:
    return f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"

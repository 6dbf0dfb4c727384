"""Fault injection: the failures a router must survive, switchable at run time.

Faults are one frozen value swapped atomically (a request keeps the faults it started with).
They are set by CLI flags at start and changed through `POST /_sim/faults` (a partial JSON
object with the same field names; `GET /_sim/faults` returns the current value):

- `http_status` + `http_status_rate`: answer that fraction of inference requests
  (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`) with an OpenAI-shaped error of
  that status before any byte of a response; `null` turns it off;
- `stall_first_byte_s`: sleep this long before the status line of inference responses;
- `cut_after_chunks`: streaming only — close the connection abruptly after this many content
  chunks, with no `[DONE]` and no terminating HTTP chunk (the client sees a broken body);
- `slowdown`: multiply every engine step's duration (≥ 1);
- `drop_kv_events`: close the KV-event ZMQ socket (events are lost, sequence numbers keep
  counting, so subscribers see a gap); `false` opens a fresh socket.

"Refuse connections" needs no fault: stop the process (or never start it) and the port is closed.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

_ERROR_TYPES: Mapping[int, str] = MappingProxyType(
    {
        400: "BadRequestError",
        401: "AuthenticationError",
        403: "PermissionDeniedError",
        404: "NotFoundError",
        408: "RequestTimeoutError",
        429: "RateLimitError",
        500: "InternalServerError",
        502: "BadGatewayError",
        503: "ServiceUnavailableError",
        504: "GatewayTimeoutError",
    }
)


class FaultConfigError(ValueError):
    """A fault patch has an unknown field or a value of the wrong type or range."""


def error_type_for(status: int) -> str:
    """The OpenAI-style error `type` for an HTTP status."""
    return _ERROR_TYPES.get(status, "InternalServerError" if status >= 500 else "BadRequestError")


@dataclass(frozen=True)
class Faults:
    http_status: int | None = None
    http_status_rate: float = 1.0  # fraction of inference requests answered with http_status
    stall_first_byte_s: float = 0.0
    cut_after_chunks: int | None = None
    slowdown: float = 1.0
    drop_kv_events: bool = False

    def __post_init__(self) -> None:
        if self.http_status is not None and not 400 <= self.http_status <= 599:
            raise FaultConfigError("http_status must be an HTTP error status (400-599) or null")
        if not 0.0 <= self.http_status_rate <= 1.0:
            raise FaultConfigError("http_status_rate must be in [0, 1]")
        if self.stall_first_byte_s < 0:
            raise FaultConfigError("stall_first_byte_s must be >= 0")
        if self.cut_after_chunks is not None and self.cut_after_chunks < 0:
            raise FaultConfigError("cut_after_chunks must be >= 0 or null")
        if self.slowdown < 1.0:
            raise FaultConfigError("slowdown must be >= 1")

    def merged(self, patch: Mapping[str, object]) -> Faults:
        """A copy with the fields of `patch` replaced; raises `FaultConfigError` if invalid."""
        changes = {name: _coerce(name, value) for name, value in patch.items()}
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


_FIELD_KINDS: Mapping[str, tuple[type, bool]] = MappingProxyType(
    {  # name: (type, nullable)
        "http_status": (int, True),
        "http_status_rate": (float, False),
        "stall_first_byte_s": (float, False),
        "cut_after_chunks": (int, True),
        "slowdown": (float, False),
        "drop_kv_events": (bool, False),
    }
)


def _coerce(name: str, value: object) -> object:
    try:
        kind, nullable = _FIELD_KINDS[name]
    except KeyError:
        raise FaultConfigError(
            f"unknown fault field {name!r}; known: {sorted(_FIELD_KINDS)}"
        ) from None
    if value is None and nullable:
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise FaultConfigError(f"fault field {name!r} must be {kind.__name__}, got {value!r}")


class FaultController:
    """Holds the current faults and applies the ones that act on other objects.

    `apply_slowdown` and `apply_kv_drop` are called by `apply()` (once the objects they act
    on are running) and on every change, with the new values; they run on the event loop
    and must not block.
    """

    def __init__(
        self,
        initial: Faults,
        *,
        apply_slowdown: Callable[[float], None],
        apply_kv_drop: Callable[[bool], None],
        seed: int = 0,
    ) -> None:
        self._apply_slowdown = apply_slowdown
        self._apply_kv_drop = apply_kv_drop
        self._rng = random.Random(seed)
        self.current = initial

    def apply(self) -> None:
        self._apply(self.current)

    def update(self, patch: Mapping[str, object]) -> Faults:
        faults = self.current.merged(patch)
        self.current = faults
        self._apply(faults)
        return faults

    def draw_http_error(self, faults: Faults) -> int | None:
        """The status to fail this request with, or None to serve it."""
        if faults.http_status is None:
            return None
        if faults.http_status_rate >= 1.0 or self._rng.random() < faults.http_status_rate:
            return faults.http_status
        return None

    def _apply(self, faults: Faults) -> None:
        self._apply_slowdown(faults.slowdown)
        self._apply_kv_drop(faults.drop_kv_events)

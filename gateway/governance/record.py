"""The audit record of one finished request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Never holds prompt or output text; `status` 499 means the client went away."""

    request_id: str
    tenant: str
    route: str
    model: str
    engine: str | None
    status: int
    duration_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

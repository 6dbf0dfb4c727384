"""Extension points of governance."""

from __future__ import annotations

from typing import Protocol

from gateway.governance.record import AuditRecord


class AuditSink(Protocol):
    def record(self, record: AuditRecord) -> None:
        """Accept one record without blocking; a sink that does I/O queues and owns a task."""
        ...

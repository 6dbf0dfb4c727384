"""The default sink: audit records are not kept."""

from __future__ import annotations

from gateway.governance.interfaces import AuditSink
from gateway.governance.record import AuditRecord


class DiscardAudit(AuditSink):
    def record(self, record: AuditRecord) -> None:
        return None

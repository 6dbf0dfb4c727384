"""When a failed attempt may go to another engine.

Only before the first byte reached the client, and only when the engine provably did not
start the work: it could not be reached, dropped the connection without answering, or
answered 502/503 (overloaded, or a proxy in front of it has no backend).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import UpstreamDisconnectedError, UpstreamError, UpstreamUnreachableError

RETRYABLE_STATUSES = frozenset({502, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 2
    """Attempts per request, counting the first."""

    def can_retry(self, attempt: int) -> bool:
        """Whether another attempt may follow attempt number `attempt` (1-based)."""
        return attempt < self.max_attempts

    @staticmethod
    def retryable_error(error: UpstreamError) -> bool:
        return isinstance(error, UpstreamUnreachableError | UpstreamDisconnectedError)

    @staticmethod
    def retryable_status(status: int) -> bool:
        return status in RETRYABLE_STATUSES

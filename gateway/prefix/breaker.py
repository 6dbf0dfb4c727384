"""A circuit breaker for one remote dependency: after a failure, stay away for a while.

Closed: every call goes through. A failure opens it for a backoff that doubles with each
consecutive failure (capped). When the backoff has passed, exactly one call is let through
as a probe while the others keep using their fallback, so an outage costs one connection
attempt per backoff period, not one per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Event-loop-local state (no locking); times in seconds from `clock` (monotonic)."""

    def __init__(
        self,
        *,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < initial_backoff_s <= max_backoff_s:
            raise ValueError("need 0 < initial_backoff_s ≤ max_backoff_s")
        self._initial = initial_backoff_s
        self._max = max_backoff_s
        self._clock = clock
        self._failures = 0
        self._retry_at = 0.0
        self._probing = False

    @property
    def available(self) -> bool:
        """True while closed (the last call succeeded, or none failed yet)."""
        return self._failures == 0

    def allow(self) -> bool:
        """Whether the caller may use the dependency now; claims the probe when half-open.

        A caller that got True must end with `success()`, `failure()` or `release()`.
        """
        if self._failures == 0:
            return True
        if self._probing or self._clock() < self._retry_at:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        self._failures = 0
        self._probing = False

    def failure(self) -> None:
        backoff = min(self._max, self._initial * 2 ** min(self._failures, 30))
        self._failures += 1
        self._retry_at = self._clock() + backoff
        self._probing = False

    def release(self) -> None:
        """Give the probe back unused (the call was cancelled before an outcome)."""
        self._probing = False

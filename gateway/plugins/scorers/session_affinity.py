"""`session-affinity-scorer`: the requests of one `x-session-id` prefer one engine."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from gateway.plugins.base import RoutingPlugin
from gateway.routing.interfaces import SchedulingContext, Scorer
from gateway.routing.snapshot import EndpointSnapshot


class SessionAffinityScorer(Scorer, RoutingPlugin):
    """1 for the session's engine, 0 for the others (and for all without a session id).

    The session's engine is chosen by rendezvous hashing (highest BLAKE2b of session id and
    engine id among the candidates): no state to keep or share, every gateway replica
    agrees, and when an engine leaves or is filtered out only its own sessions move.
    """

    type_name = "session-affinity-scorer"

    def score(
        self, context: SchedulingContext, candidates: Sequence[EndpointSnapshot]
    ) -> Sequence[float]:
        session = context.request.session_id
        scores = [0.0] * len(candidates)
        if not session or not candidates:
            return scores
        key = session.encode()
        ranks = [_rank(key, snap.id) for snap in candidates]
        scores[ranks.index(max(ranks))] = 1.0
        return scores


def _rank(session: bytes, endpoint: str) -> bytes:
    digest = hashlib.blake2b(session, digest_size=8, person=b"kvgate-session")
    digest.update(endpoint.encode())
    return digest.digest()

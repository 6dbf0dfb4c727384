"""Choose an engine for a request with its profile, over an immutable pool snapshot."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import ModelNotFoundError, NoReadyEngineError
from gateway.routing.interfaces import SchedulingContext
from gateway.routing.profile import Profile
from gateway.routing.snapshot import EndpointSnapshot, PoolSnapshot
from gateway.types import EndpointId


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine chosen for one attempt, its weighted score, and the prefix blocks the
    index predicted it holds (0 when no lookup ran or it holds none)."""

    endpoint: EndpointSnapshot
    score: float
    cached_blocks: int

    @property
    def id(self) -> EndpointId:
        return self.endpoint.id


def schedule(
    profile: Profile,
    context: SchedulingContext,
    pool: PoolSnapshot,
    tried: frozenset[EndpointId] = frozenset(),
) -> Decision:
    """Run `profile` over the engines not tried yet for this request.

    Pure apart from the pickers' own random or turn state. Raises `ModelNotFoundError` (404)
    when no engine has ever advertised the model, `NoReadyEngineError` (503) when the
    filters leave nothing for another reason.
    """
    candidates = [snap for snap in pool.endpoints if snap.id not in tried]
    chosen = profile.choose(context, candidates) if candidates else None
    if chosen is not None:
        blocks = context.prefix_matches.get(chosen.endpoint.id, 0)
        return Decision(
            chosen.endpoint, chosen.score, min(blocks, len(context.prompt.block_hashes))
        )
    model = context.request.model
    if not pool.knows(model) and pool.has_model_lists():
        raise ModelNotFoundError(model)
    raise NoReadyEngineError(f"No ready engine serves the model `{model}`.")

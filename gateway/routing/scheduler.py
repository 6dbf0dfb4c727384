"""Choose an engine for a request over an immutable pool snapshot."""

from __future__ import annotations

from gateway.errors import ModelNotFoundError, NoReadyEngineError
from gateway.openai.prompt import Prompt
from gateway.routing.interfaces import Picker
from gateway.routing.request import InferenceRequest
from gateway.routing.snapshot import EndpointSnapshot, PoolSnapshot
from gateway.types import EndpointId, RequestClass


class Scheduler:
    """Filters (ready, serves the model, not tried yet), then the picker.

    Pure given its inputs, apart from the picker's own turn counter. The routing
    framework replaces the fixed filters with a profile per request class.
    """

    def __init__(self, picker: Picker) -> None:
        self._picker = picker

    def schedule(
        self,
        request: InferenceRequest,
        prompt: Prompt,
        request_class: RequestClass,
        pool: PoolSnapshot,
        tried: frozenset[EndpointId] = frozenset(),
    ) -> EndpointSnapshot:
        """Raise `ModelNotFoundError` (404) or `NoReadyEngineError` (503) when none fits."""
        candidates = pool.candidates(request.model, exclude=tried)
        if candidates:
            return self._picker.pick(request, candidates)
        if not pool.knows(request.model) and pool.has_model_lists():
            raise ModelNotFoundError(request.model)
        raise NoReadyEngineError(f"No ready engine serves the model `{request.model}`.")

"""Load-only pickers, registered by kebab-case name; the prefix-aware ones come later."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from gateway.routing.interfaces import Picker
from gateway.routing.request import InferenceRequest
from gateway.routing.snapshot import EndpointSnapshot


class RoundRobinPicker(Picker):
    """Each candidate in turn, whatever its load."""

    def __init__(self) -> None:
        self._turn = 0

    def pick(
        self, request: InferenceRequest, candidates: Sequence[EndpointSnapshot]
    ) -> EndpointSnapshot:
        self._turn += 1
        return candidates[self._turn % len(candidates)]


class LeastInFlightPicker(Picker):
    """The candidate with the fewest gateway in-flight requests; ties go round-robin."""

    def __init__(self) -> None:
        self._turn = 0

    def pick(
        self, request: InferenceRequest, candidates: Sequence[EndpointSnapshot]
    ) -> EndpointSnapshot:
        least = min(snap.in_flight for snap in candidates)
        tied = [snap for snap in candidates if snap.in_flight == least]
        self._turn += 1
        return tied[self._turn % len(tied)]


PICKERS: Mapping[str, Callable[[], Picker]] = MappingProxyType(
    {"round-robin": RoundRobinPicker, "least-in-flight": LeastInFlightPicker}
)


def build_picker(name: str) -> Picker:
    try:
        return PICKERS[name]()
    except KeyError:
        raise ValueError(f"unknown picker {name!r}; known: {', '.join(PICKERS)}") from None

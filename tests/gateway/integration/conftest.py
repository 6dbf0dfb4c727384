"""Real processes on loopback: simulated engines and gateways started as `python -m …`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtests.fleet import Fleet, ManagedProcess

MODEL = "Qwen/Qwen2.5-7B-Instruct"


class SharedFleet:
    """Two instant engines and a gateway in front of them, reused by one test module."""

    def __init__(self, fleet: Fleet, *gateway_args: str) -> None:
        self.fleet = fleet
        self.sims = [fleet.start_sim(profile="instant", model=MODEL) for _ in range(2)]
        self.gateway = fleet.start_gateway(
            [sim.url for sim in self.sims], extra_args=list(gateway_args)
        )


@pytest.fixture(scope="module")
def shared() -> Iterator[SharedFleet]:
    with Fleet() as fleet:
        yield SharedFleet(fleet, "--max-body-bytes", "65536", "--refresh-interval", "600")


@pytest.fixture(scope="module")
def gateway(shared: SharedFleet) -> ManagedProcess:
    return shared.gateway

"""Extension points of discovery."""

from __future__ import annotations

from typing import Protocol

from gateway.discovery.datastore import EndpointDatastore


class Discovery(Protocol):
    async def run(self, datastore: EndpointDatastore) -> None:
        """Keep the datastore's endpoint set current.

        A static source sets it once and returns; a watching source (Kubernetes) runs until
        cancelled. Runs as a lifespan-owned task.
        """
        ...

"""Which weights an engine serves a model with: `/v1/models` root plus a revision."""

from __future__ import annotations

from collections.abc import Callable

from gateway.discovery.endpoint import Endpoint
from gateway.governance.config import ModelVersions as ModelVersionsConfig
from gateway.governance.record import ModelVersion
from gateway.types import EndpointId

RootLookup = Callable[[EndpointId, str], str | None]
"""(engine, model) → the `root` of that model's card on that engine, if it listed one."""


class ModelVersions:
    """Resolves per request; synchronous and cheap (a few dict lookups)."""

    def __init__(self, roots: RootLookup, config: ModelVersionsConfig) -> None:
        self._roots = roots
        self._revisions = dict(config.revisions)
        self._labels = config.revision_labels

    def resolve(self, endpoint: Endpoint, model: str) -> ModelVersion:
        root = self._roots(endpoint.id, model)
        labels = endpoint.labels
        revision = next((labels[name] for name in self._labels if labels.get(name)), None)
        return ModelVersion.of(model, root, revision or self._revisions.get(model))

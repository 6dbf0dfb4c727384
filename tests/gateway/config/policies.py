"""Small valid policy documents for tests, built from the default one."""

from __future__ import annotations

import copy

import yaml

from gateway.config.defaults import default_policy


def default_document() -> dict[str, object]:
    return default_policy().model_dump(mode="json", by_alias=True)


def mutated(**changes: object) -> dict[str, object]:
    document = copy.deepcopy(default_document())
    document.update(changes)
    return document


def as_yaml(document: dict[str, object]) -> bytes:
    return yaml.safe_dump(document, sort_keys=False).encode()

"""Read a policy file (routing, and any other policy document) into validated models, or say
exactly what is wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gateway.config.defaults import default_policy
from gateway.config.models import PolicyError, RoutingPolicy

M = TypeVar("M", bound=BaseModel)


def parse_policy(data: bytes, source: str) -> RoutingPolicy:
    """Validate YAML bytes; raise `PolicyError` naming `source` and each bad field."""
    return parse_document(data, source, RoutingPolicy)


def parse_document(data: bytes, source: str, model: type[M]) -> M:
    """Validate YAML bytes as any policy document (routing, safety, tenants); raise
    `PolicyError` naming `source` and each bad field."""
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(f"{source}: {_describe(exc)}") from None


def read_policy(path: Path) -> tuple[RoutingPolicy, str]:
    """The policy in `path` and the digest of its bytes; raise `PolicyError`."""
    return read_document(path, RoutingPolicy)


def read_document(path: Path, model: type[M]) -> tuple[M, str]:
    """The policy document in `path` and the digest of its bytes; raise `PolicyError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    return parse_document(data, str(path), model), digest(data)


def initial_policy(path: Path | None) -> tuple[RoutingPolicy, str]:
    """The policy to start with: the file's, or the built-in one (digest "") without one."""
    if path is None:
        return default_policy(), ""
    return read_policy(path)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        problems.append(f"{where}: {error['msg']}")
    count = len(problems)
    return f"{count} problem{'s' if count > 1 else ''}: " + "; ".join(problems)

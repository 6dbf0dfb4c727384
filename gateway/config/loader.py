"""Read a routing policy file into a validated `RoutingPolicy`, or say exactly what is wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import ValidationError

from gateway.config.defaults import default_policy
from gateway.config.models import PolicyError, RoutingPolicy


def parse_policy(data: bytes, source: str) -> RoutingPolicy:
    """Validate YAML bytes; raise `PolicyError` naming `source` and each bad field."""
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level")
    try:
        return RoutingPolicy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(f"{source}: {_describe(exc)}") from None


def read_policy(path: Path) -> tuple[RoutingPolicy, str]:
    """The policy in `path` and the digest of its bytes; raise `PolicyError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    return parse_policy(data, str(path)), digest(data)


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

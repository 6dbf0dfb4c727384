"""Read the safety policy and the tenants file, or say exactly what is wrong (`PolicyError`)."""

from __future__ import annotations

from pathlib import Path

from gateway.config.loader import parse_document, read_document
from gateway.safety.defaults import default_safety_policy
from gateway.safety.models import SafetyPolicy
from gateway.safety.tenants import TenantDirectory, TenantPolicy


def parse_safety(data: bytes, source: str) -> SafetyPolicy:
    return parse_document(data, source, SafetyPolicy)


def initial_safety(path: Path | None) -> tuple[SafetyPolicy, str]:
    """The safety policy to start with: the file's, or the built-in one (digest "")."""
    if path is None:
        return default_safety_policy(), ""
    return read_document(path, SafetyPolicy)


def parse_tenants(data: bytes, source: str) -> TenantPolicy:
    return parse_document(data, source, TenantPolicy)


def initial_tenants(path: Path | None) -> tuple[TenantDirectory, str]:
    """The tenant directory to start with: the file's, or an empty one (no restrictions)."""
    if path is None:
        return TenantDirectory.empty(), ""
    policy, digest = read_document(path, TenantPolicy)
    return TenantDirectory(policy), digest

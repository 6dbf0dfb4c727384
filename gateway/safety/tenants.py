"""The tenants file (`policies/tenants.example.yaml`): API keys → tenant names, and what each
tenant may ask for.

A key is named by its *key id*: the leading hex digits (8 to 64) of the SHA-256 of the key,
as `gateway.auth` computes it (`printf %s "$KEY" | sha256sum | cut -c1-8`), so the file never
holds a key. A key the file does not name keeps its 8-digit id as its tenant.

Allow-lists (`allow`, and `defaults` for every tenant not listed, anonymous included) say which
routes and models a tenant may use, whether it may send `system`/`developer` messages, which
tools it may declare, the `max_tokens` ceiling, and bounds on sampling parameters. A field left
out allows anything; without a tenants file nothing is restricted. The `tenant-allowlist`
guard enforces them.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal, Self

from pydantic import Field, model_validator

from gateway.config.frozen import FrozenModel

TENANT_KIND = "TenantPolicy"
KEY_ID_DIGITS = 8
_TENANT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_KEY_ID = r"^[0-9a-f]{8,64}$"

Route = Literal["chat", "completion", "embedding"]
SamplingField = Literal[
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "n",
    "best_of",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "length_penalty",
    "top_logprobs",
]
"""Body fields (as the OpenAI and vLLM APIs spell them) an allow-list may bound."""


class Bounds(FrozenModel):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Allowlist(FrozenModel):
    """What a tenant may ask for; a field left out allows anything."""

    routes: tuple[Route, ...] | None = None
    """`chat`, `completion`, `embedding`. A tenant kept off `completion` cannot write the
    chat template (and its role tags) itself."""
    models: tuple[str, ...] | None = None
    """Model names or globs (`Qwen/*`); LoRA adapters count as models."""
    system_role: bool = True
    """Whether `system` and `developer` messages are allowed."""
    tools: tuple[str, ...] | None = None
    """Function names the request may declare or force; `[]` allows no tools at all."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Ceiling on `max_tokens` / `max_completion_tokens`; a request without one gets it."""
    sampling: dict[SamplingField, Bounds] = Field(default_factory=dict)
    """Bounds on numeric sampling fields, e.g. `temperature: {max: 1.0}`."""


class TenantSpec(FrozenModel):
    name: str = Field(pattern=_TENANT)
    """The tenant everywhere else: audit records, metrics, safety policy bindings."""
    keys: tuple[str, ...] = ()
    """Key ids: leading hex digits (8-64, lower case) of each key's SHA-256."""
    allow: Allowlist = Field(default_factory=lambda: Allowlist.model_validate({}))


class TenantPolicy(FrozenModel):
    """The whole tenants file."""

    api_version: Literal["kvgate.dev/v1alpha1"]
    kind: Literal["TenantPolicy"]
    defaults: Allowlist = Field(default_factory=lambda: Allowlist.model_validate({}))
    """For every tenant not listed, anonymous callers and unnamed keys included."""
    tenants: tuple[TenantSpec, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        _unique("tenant name", (tenant.name for tenant in self.tenants))
        ids = [key for tenant in self.tenants for key in tenant.keys]
        for key in ids:
            if not re.match(_KEY_ID, key):
                raise ValueError(f"key id {key!r} is not 8 to 64 lower-case hex digits")
        for key in ids:
            for other in ids:
                if key != other and other.startswith(key):
                    raise ValueError(f"key id {key!r} is a prefix of {other!r}: ambiguous")
        _unique("key id", ids)
        return self


class TenantDirectory:
    """Lookups over one tenants file; immutable, swapped whole on reload."""

    def __init__(self, policy: TenantPolicy | None) -> None:
        self.policy = policy
        by_prefix: dict[str, list[tuple[str, str]]] = {}
        allow: dict[str, Allowlist] = {}
        for tenant in policy.tenants if policy else ():
            allow[tenant.name] = tenant.allow
            for key in tenant.keys:
                by_prefix.setdefault(key[:KEY_ID_DIGITS], []).append((key, tenant.name))
        self._by_prefix: Mapping[str, list[tuple[str, str]]] = MappingProxyType(by_prefix)
        self._allow: Mapping[str, Allowlist] = MappingProxyType(allow)

    @classmethod
    def empty(cls) -> TenantDirectory:
        return cls(None)

    def tenant_for_key(self, digest_hex: str) -> str | None:
        """The tenant named for the key with this SHA-256 (hex), if the file names it."""
        for key, name in self._by_prefix.get(digest_hex[:KEY_ID_DIGITS], ()):
            if digest_hex.startswith(key):
                return name
        return None

    def allowlist(self, tenant: str) -> Allowlist | None:
        """The tenant's allow-list; None when no tenants file is loaded (no restrictions)."""
        if self.policy is None:
            return None
        return self._allow.get(tenant, self.policy.defaults)


def model_allowed(allow: Allowlist, model: str) -> bool:
    if allow.models is None:
        return True
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in allow.models)


def _unique(what: str, names: Iterable[str]) -> None:
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ValueError(f"duplicate {what}: {', '.join(repeated)}")

"""Sink type name → sink class; the governance policy (or `--audit-sink`) chooses them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from gateway.governance.config import GovernancePolicyError, SinkSpec, describe
from gateway.governance.interfaces import AuditSink
from gateway.governance.queued import QueuedSink
from gateway.governance.sinks.jsonl import JsonlWriter
from gateway.governance.sinks.otel import OtelSink
from gateway.governance.sinks.redis_stream import RedisStreamWriter


class SinkParams(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


@dataclass(frozen=True, slots=True)
class SinkDeps:
    """What sinks may use: the process's Redis URL and the queue bounds of queued sinks."""

    redis_url: str | None = None
    queue_capacity: int = 10000
    batch_size: int = 256
    flush_timeout_s: float = 5.0

    def queued(self, writer: JsonlWriter | RedisStreamWriter) -> QueuedSink:
        return QueuedSink(
            writer,
            capacity=self.queue_capacity,
            batch_size=self.batch_size,
            flush_timeout_s=self.flush_timeout_s,
        )


class SinkType:
    """A registered sink type: `type_name`, its `Params`, and how to build one."""

    type_name: ClassVar[str]
    Params: ClassVar[type[SinkParams]] = SinkParams

    @classmethod
    def check(cls, params: SinkParams, deps: SinkDeps) -> None:
        """Raise `GovernancePolicyError` when `deps` lack what the sink needs."""

    @classmethod
    def build(cls, params: SinkParams, deps: SinkDeps) -> AuditSink:
        raise NotImplementedError


class JsonlParams(SinkParams):
    path: str = "stdout"
    """`stdout` (or `-`), or a file appended to (rotation-safe)."""


class JsonlSink(SinkType):
    type_name = "jsonl"
    Params = JsonlParams

    @classmethod
    def build(cls, params: SinkParams, deps: SinkDeps) -> AuditSink:
        assert isinstance(params, JsonlParams)
        return deps.queued(JsonlWriter.for_target(params.path))


class RedisStreamParams(SinkParams):
    key: str = Field(min_length=1)
    max_len: int = Field(default=100_000, ge=1)
    """The stream is trimmed to about this many entries (`XADD MAXLEN ~`)."""
    timeout_seconds: float = Field(default=0.5, gt=0, le=10)
    """Per batch write."""


class RedisStreamSink(SinkType):
    type_name = "redis-stream"
    Params = RedisStreamParams

    @classmethod
    def check(cls, params: SinkParams, deps: SinkDeps) -> None:
        if deps.redis_url is None:
            raise GovernancePolicyError("audit sink redis-stream needs --redis-url")

    @classmethod
    def build(cls, params: SinkParams, deps: SinkDeps) -> AuditSink:
        assert isinstance(params, RedisStreamParams)
        assert deps.redis_url is not None
        writer = RedisStreamWriter.from_url(
            deps.redis_url, params.key, max_len=params.max_len, timeout_s=params.timeout_seconds
        )
        return deps.queued(writer)


class OtelSinkType(SinkType):
    type_name = "otel"

    @classmethod
    def build(cls, params: SinkParams, deps: SinkDeps) -> AuditSink:
        return OtelSink()


class SinkRegistry:
    def __init__(self, types: Iterable[type[SinkType]]) -> None:
        self._types: Mapping[str, type[SinkType]] = MappingProxyType(
            {cls.type_name: cls for cls in types}
        )

    @property
    def types(self) -> Mapping[str, type[SinkType]]:
        return self._types

    def build(self, spec: SinkSpec, deps: SinkDeps) -> AuditSink:
        """Raise `GovernancePolicyError` for an unknown type or invalid parameters."""
        cls, params = self.check(spec, deps)
        return cls.build(params, deps)

    def check(self, spec: SinkSpec, deps: SinkDeps) -> tuple[type[SinkType], SinkParams]:
        """Validate `spec` without building anything; raise `GovernancePolicyError`."""
        cls = self._types.get(spec.type)
        if cls is None:
            known = ", ".join(sorted(self._types))
            raise GovernancePolicyError(f"unknown audit sink type {spec.type!r}; known: {known}")
        try:
            params = cls.Params.model_validate(spec.parameters)
        except ValidationError as exc:
            raise GovernancePolicyError(f"audit sink {spec.type}: {describe(exc)}") from None
        cls.check(params, deps)
        return cls, params


def builtin_sinks() -> SinkRegistry:
    return SinkRegistry((JsonlSink, RedisStreamSink, OtelSinkType))

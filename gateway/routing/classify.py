"""Request classification by the routing policy's rules; each class selects a profile."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.openai.prompt import Prompt
from gateway.routing.interfaces import Classifier
from gateway.routing.request import InferenceRequest
from gateway.types import RequestClass


@dataclass(frozen=True, slots=True)
class ClassRules:
    """`header`: a request header naming a class outright (lower-case, or None);
    `long_context`: (class, prompt tokens above which it applies);
    `low_priority`: (class, body priority above which it applies); `default` otherwise."""

    classes: frozenset[RequestClass]
    default: RequestClass
    header: bytes | None = None
    long_context: tuple[RequestClass, int] | None = None
    low_priority: tuple[RequestClass, int] | None = None


class RuleClassifier(Classifier):
    """Header first, then prompt length, then priority, then the default class.

    A header value that names no configured class is ignored (it is client input: it must
    not create metric labels or select profiles that do not exist).
    """

    def __init__(self, rules: ClassRules) -> None:
        self._rules = rules
        self._by_header = {name.encode(): name for name in rules.classes}

    def classify(self, request: InferenceRequest, prompt: Prompt) -> RequestClass:
        rules = self._rules
        if rules.header is not None:
            value = request.header(rules.header)
            if value is not None:
                named = self._by_header.get(value.strip().lower())
                if named is not None:
                    return named
        if rules.long_context is not None and prompt.token_count > rules.long_context[1]:
            return rules.long_context[0]
        if rules.low_priority is not None and request.priority > rules.low_priority[1]:
            return rules.low_priority[0]
        return rules.default

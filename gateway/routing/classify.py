"""Request classification. One class for every request until profiles arrive."""

from __future__ import annotations

from gateway.openai.prompt import Prompt
from gateway.routing.interfaces import Classifier
from gateway.routing.request import InferenceRequest
from gateway.types import RequestClass

DEFAULT_CLASS: RequestClass = "default"


class SingleClass(Classifier):
    def classify(self, request: InferenceRequest, prompt: Prompt) -> RequestClass:
        return DEFAULT_CLASS

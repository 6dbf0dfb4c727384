"""The built-in routing policy: what a gateway without `--policy-file` routes with.

Equal to `policies/routing.yaml` (a test keeps them in step); the reasons for every weight
are written there, as comments, next to the values.
"""

from __future__ import annotations

from gateway.config.models import RoutingPolicy

_FILTERS: tuple[dict[str, object], ...] = ({"pluginRef": "serves-model"}, {"pluginRef": "ready"})
_GUARDED: tuple[dict[str, object], ...] = (
    *_FILTERS,
    {"pluginRef": "not-saturated"},
    {"pluginRef": "prefix-match-producer"},
)


def _scored(
    *weights: tuple[str, float], picker: str = "max-score-picker"
) -> list[dict[str, object]]:
    return [{"pluginRef": ref, "weight": weight} for ref, weight in weights] + [
        {"pluginRef": picker}
    ]


def _document() -> dict[str, object]:
    return {
        "apiVersion": "kvgate.dev/v1alpha1",
        "kind": "RoutingPolicy",
        "plugins": [
            {"type": "prefix-match-producer"},
            {"type": "serves-model"},
            {"type": "ready"},
            {"type": "not-saturated"},
            {"type": "prefix-cache-scorer", "parameters": {"loadSlack": 8, "loadSlackRatio": 0.5}},
            {
                "name": "prefix-cache-unbounded",
                "type": "prefix-cache-scorer",
                "parameters": {"loadSlack": None},
            },
            {"type": "queue-depth-scorer"},
            {"type": "kv-cache-usage-scorer"},
            {"type": "in-flight-scorer"},
            {"type": "recent-requests-scorer"},
            {"type": "session-affinity-scorer"},
            {"type": "lora-affinity-scorer"},
            {"type": "max-score-picker"},
            {"type": "random-picker"},
            {"type": "round-robin-picker"},
        ],
        "schedulingProfiles": [
            {
                "name": "long-context",
                "plugins": list(_GUARDED)
                + _scored(
                    ("prefix-cache-scorer", 3),
                    ("queue-depth-scorer", 1),
                    ("kv-cache-usage-scorer", 1),
                    ("in-flight-scorer", 2),
                    ("recent-requests-scorer", 1),
                    ("lora-affinity-scorer", 1),
                ),
            },
            {
                "name": "chat",
                "plugins": list(_GUARDED)
                + _scored(
                    ("prefix-cache-scorer", 2),
                    ("session-affinity-scorer", 1),
                    ("queue-depth-scorer", 3),
                    ("kv-cache-usage-scorer", 1),
                    ("in-flight-scorer", 3),
                    ("recent-requests-scorer", 1),
                    ("lora-affinity-scorer", 1),
                ),
            },
            {
                "name": "batch",
                "plugins": list(_GUARDED)
                + _scored(
                    ("prefix-cache-scorer", 3),
                    ("kv-cache-usage-scorer", 2),
                    ("queue-depth-scorer", 1),
                    ("in-flight-scorer", 1),
                    ("recent-requests-scorer", 1),
                    ("lora-affinity-scorer", 1),
                ),
            },
            {
                "name": "least-loaded",
                "plugins": [
                    *_FILTERS,
                    {"pluginRef": "queue-depth-scorer"},
                    {"pluginRef": "kv-cache-usage-scorer"},
                    {"pluginRef": "in-flight-scorer"},
                    {"pluginRef": "max-score-picker"},
                ],
            },
            {
                "name": "prefix-only",
                "plugins": [
                    *_FILTERS,
                    {"pluginRef": "prefix-match-producer"},
                    {"pluginRef": "prefix-cache-unbounded"},
                    {"pluginRef": "max-score-picker"},
                ],
            },
            {"name": "round-robin", "plugins": [*_FILTERS, {"pluginRef": "round-robin-picker"}]},
            {"name": "random", "plugins": [*_FILTERS, {"pluginRef": "random-picker"}]},
        ],
        "classes": [
            {"name": "long_context", "profile": "long-context"},
            {"name": "batch", "profile": "batch"},
            {"name": "chat", "profile": "chat"},
        ],
        "classification": {
            "header": "x-kvgate-class",
            "longContext": {"class": "long_context", "promptTokensAbove": 2048},
            "lowPriority": {"class": "batch", "priorityAbove": 0},
            "default": "chat",
        },
        "responseHeaders": {"enabled": True},
    }


def default_policy() -> RoutingPolicy:
    return RoutingPolicy.model_validate(_document())

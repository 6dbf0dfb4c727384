"""The built-in safety policy: what a gateway without `--safety-policy-file` guards with.

Equal to `policies/safety.yaml` (a test keeps them in step); the reasons for each setting are
written there, as comments, next to the values.
"""

from __future__ import annotations

from gateway.safety.models import SafetyPolicy


def _document() -> dict[str, object]:
    return {
        "apiVersion": "kvgate.dev/v1alpha1",
        "kind": "SafetyPolicy",
        "guards": [
            {"type": "tenant-allowlist", "parameters": {"action": "block"}},
            {
                "type": "prompt-injection",
                "parameters": {
                    "threshold": 0.5,
                    "action": "block",
                    "roles": ["user"],
                    "tokenIds": "flag",
                },
            },
            {
                "name": "pii",
                "type": "sensitive-data",
                "parameters": {
                    "action": "redact",
                    "kinds": [
                        "email",
                        "phone",
                        "payment_card",
                        "cn_resident_id",
                        "us_ssn",
                        "secret",
                    ],
                    "roles": ["user", "tool"],
                    "placeholder": "[REDACTED:{kind}]",
                },
            },
            {
                "name": "output-compliance",
                "type": "output-patterns",
                "parameters": {
                    "action": "block",
                    "kinds": ["secret", "payment_card", "cn_resident_id", "us_ssn"],
                    "window": 256,
                },
            },
        ],
        "profiles": [
            {
                "name": "standard",
                "input": ["tenant-allowlist", "prompt-injection", "pii"],
                "output": ["output-compliance"],
            },
            {"name": "allowlist-only", "input": ["tenant-allowlist"]},
            {"name": "off"},
        ],
        "bindings": [],
        "defaultProfile": "standard",
    }


def default_safety_policy() -> SafetyPolicy:
    return SafetyPolicy.model_validate(_document())

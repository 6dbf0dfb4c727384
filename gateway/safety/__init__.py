"""Input and output guards: tenant allow-lists, prompt injection, personal data and secrets,
an external classifier, output compliance; built from `policies/safety.yaml`."""

"""Audit sinks, registered by type name: `jsonl`, `redis-stream`, `otel`."""

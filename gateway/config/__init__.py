"""Behaviour from policy files: frozen models, the loader, the hot-reload watcher, the schema."""

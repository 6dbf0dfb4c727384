"""kvgate: a prompt-aware, KV-cache-aware routing gateway for vLLM fleets."""

__version__ = "0.1.0"

"""Prefix locality: block hashing, the endpoint → cached-blocks index, and its sources.

- `hashing`: chained 64-bit block hashes, seeded by model, LoRA adapter and cache_salt;
- `interfaces`: the `PrefixIndex` protocol; `memory` and `redis_index` implement it;
- `kv_wire`, `kv_tracker`, `kv_events`: the precise source (vLLM's KV events over ZMQ).
"""

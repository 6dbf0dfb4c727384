"""Hardware/model profiles: how long one engine step takes on a given GPU and model.

The step time is a roofline over the scheduled batch (SIMULATOR.md, "Step time"):

    t = c0 + n_seqs * per_seq + max(bytes_moved / BW, flops / F)

where a step moves the weights once plus the KV cache of every scheduled sequence, and
computes 2 FLOPs per parameter per scheduled token plus the attention FLOPs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

GIB = 1 << 30
KIB = 1 << 10


@dataclass(frozen=True)
class HardwareProfile:
    """One GPU + model combination; speeds are *effective* (achieved), not datasheet, values."""

    name: str
    weights_bytes: float  # W: bytes read once per step
    num_params: float  # P: parameters in the matmuls (2 FLOPs each per token)
    kv_bytes_per_token: float  # K + V for every layer, bytes
    num_layers: int
    hidden_size: int  # query width (heads × head_dim), for the attention FLOPs
    mem_bandwidth: float  # bytes / s
    flops: float  # FLOP / s
    step_overhead_s: float  # c0: scheduling, launch and sync per step, seconds
    per_seq_overhead_s: float  # sampling / bookkeeping per scheduled sequence, seconds
    num_gpu_blocks: int
    max_num_batched_tokens: int
    max_num_seqs: int

    def attention_flops(self, attention_pairs: float) -> float:
        """FLOPs of the attention over `attention_pairs` (query, key) pairs.

        Per pair and layer, QKᵀ and PV each cost `hidden_size` multiply-adds, i.e. 4·d FLOPs
        per pair and layer (Kaplan et al. 2020, table 1: 2·n_layer·n_ctx·d_attn for the
        scores plus as much for the reduction). A prefill chunk of q new tokens after c cached
        ones has q·c + q(q+1)/2 causal pairs; a decode token over context c has c + 1.
        """
        return 4.0 * self.num_layers * self.hidden_size * attention_pairs

    def step_time(
        self, num_seqs: int, num_tokens: int, context_tokens: int, attention_pairs: float
    ) -> float:
        """Seconds one step takes; 0 when nothing is scheduled.

        `num_tokens`: tokens computed in the step (the token budget used);
        `context_tokens`: Σ over sequences of the KV entries the step reads or writes;
        `attention_pairs`: Σ over sequences of causal (query, key) pairs (see above).
        """
        if num_seqs == 0:
            return 0.0
        memory_s = (
            self.weights_bytes + context_tokens * self.kv_bytes_per_token
        ) / self.mem_bandwidth
        compute_s = (
            2.0 * self.num_params * num_tokens + self.attention_flops(attention_pairs)
        ) / self.flops
        overhead_s = self.step_overhead_s + num_seqs * self.per_seq_overhead_s
        return overhead_s + max(memory_s, compute_s)


# Llama-3-8B: 32 layers, hidden 4096, 8 KV heads × 128 dims, bf16 ->
# 2 (K,V) · 32 · 8 · 128 · 2 bytes = 128 KiB of KV per token; ≈ 15 GiB of weights.
# Calibrated against the targets of SIMULATOR.md (tests/loadtests/sim/engine/test_calibration.py):
# W/BW = 5.55 ms, so c0 + per_seq bring a lone decode to ≈ 6.5 ms; 16 decodes add
# 15 · per_seq ≈ 2.3 ms (vLLM's per-sequence sampling and bookkeeping, and the lower
# efficiency of skinny GEMMs) -> ≈ 9 ms. A 2k prefill is compute bound: ≈ 71 ms.
H100_LLAMA3_8B = HardwareProfile(
    name="h100-llama3-8b",
    weights_bytes=15.0 * GIB,
    num_params=7.5e9,
    kv_bytes_per_token=128.0 * KIB,
    num_layers=32,
    hidden_size=4096,
    mem_bandwidth=2.9e12,  # 3.35 TB/s nominal (SXM)
    flops=450e12,  # 989 TFLOP/s dense bf16 nominal
    step_overhead_s=0.8e-3,
    per_seq_overhead_s=0.15e-3,
    num_gpu_blocks=28_000,
    max_num_batched_tokens=8192,
    max_num_seqs=1024,
)

A100_LLAMA3_8B = replace(
    H100_LLAMA3_8B,
    name="a100-llama3-8b",
    mem_bandwidth=1.6e12,  # 2.0 TB/s nominal (80 GB)
    flops=250e12,  # 312 TFLOP/s dense bf16 nominal
    num_gpu_blocks=25_000,
    max_num_batched_tokens=2048,
    max_num_seqs=256,
)

# H100 speed with a few thousand blocks, so eviction and preemption show up in short tests.
TINY = replace(H100_LLAMA3_8B, name="tiny", num_gpu_blocks=2000)

# Zero step time and a large cache: measures the simulator's own overhead.
INSTANT = HardwareProfile(
    name="instant",
    weights_bytes=0.0,
    num_params=0.0,
    kv_bytes_per_token=0.0,
    num_layers=0,
    hidden_size=0,
    mem_bandwidth=math.inf,
    flops=math.inf,
    step_overhead_s=0.0,
    per_seq_overhead_s=0.0,
    num_gpu_blocks=100_000,
    max_num_batched_tokens=8192,
    max_num_seqs=1024,
)

PROFILES: Mapping[str, HardwareProfile] = MappingProxyType(
    {p.name: p for p in (H100_LLAMA3_8B, A100_LLAMA3_8B, TINY, INSTANT)}
)


def get_profile(name: str) -> HardwareProfile:
    """The profile called `name`; `KeyError` naming the known profiles otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise KeyError(f"unknown hardware profile {name!r} (known: {known})") from None

"""Engine configuration: a named hardware/model profile plus vLLM-style overrides."""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.sim.engine.profiles import HardwareProfile, get_profile
from loadtests.sim.engine.types import SchedulingPolicy


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine needs; `None` overrides fall back to the profile's values."""

    profile: HardwareProfile
    model_name: str = "Qwen/Qwen2.5-7B-Instruct"
    block_size: int = 16
    num_gpu_blocks_override: int | None = None
    max_num_seqs_override: int | None = None
    max_num_batched_tokens_override: int | None = None
    max_model_len: int = 32768
    scheduling_policy: SchedulingPolicy = "fcfs"
    enable_prefix_caching: bool = True
    time_scale: float = 1.0  # engine seconds per wall second

    @classmethod
    def from_profile_name(cls, name: str = "h100-llama3-8b", **overrides: object) -> EngineConfig:
        return cls(profile=get_profile(name), **overrides)  # type: ignore[arg-type]

    @property
    def num_gpu_blocks(self) -> int:
        return self.num_gpu_blocks_override or self.profile.num_gpu_blocks

    @property
    def max_num_seqs(self) -> int:
        return self.max_num_seqs_override or self.profile.max_num_seqs

    @property
    def max_num_batched_tokens(self) -> int:
        return self.max_num_batched_tokens_override or self.profile.max_num_batched_tokens

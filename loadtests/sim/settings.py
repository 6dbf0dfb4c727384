"""Everything one simulator process is configured with: frozen, built by the CLI or by tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from loadtests.sim.engine.config import EngineConfig
from loadtests.sim.engine.profiles import get_profile
from loadtests.sim.engine.types import SchedulingPolicy
from loadtests.sim.faults import Faults
from loadtests.sim.kv_events import KVEventsSettings
from loadtests.sim.models import LoraModule, ServedModels
from loadtests.sim.output import OutputLengthDist

DEFAULT_MODEL = "Qwen/Qwen2.5-7B-Instruct"
SIM_VERSION = "0.11.0+kvgate.sim"  # the vLLM release whose surface this simulates


@dataclass(frozen=True)
class SimSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    served_model_names: tuple[str, ...] = (DEFAULT_MODEL,)
    model: str | None = None  # vLLM's `--model` (the path shown as `root`); default: first name
    profile: str = "h100-llama3-8b"
    profile_overrides: tuple[tuple[str, float], ...] = ()
    tokenizer: str = "qwen2.5"
    chat_template: str = "chatml"
    max_model_len: int = 32768
    block_size: int = 16
    num_gpu_blocks_override: int | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    scheduling_policy: SchedulingPolicy = "fcfs"
    enable_prefix_caching: bool = True
    time_scale: float = 1.0
    kv_events: KVEventsSettings = field(default_factory=KVEventsSettings)
    lora_modules: tuple[LoraModule, ...] = ()
    max_loras: int = 1
    seed: int = 0
    output_len: OutputLengthDist = field(default_factory=OutputLengthDist)
    echo: bool = False
    embedding_dim: int = 384
    faults: Faults = field(default_factory=Faults)
    long_prompt_chars: int = 8192  # prompts at least this long are tokenized off the loop
    shutdown_timeout: float = 3.0

    def served_models(self) -> ServedModels:
        return ServedModels(
            names=self.served_model_names,
            root=self.model or self.served_model_names[0],
            max_model_len=self.max_model_len,
            loras=self.lora_modules,
        )

    def engine_config(self) -> EngineConfig:
        profile = get_profile(self.profile)
        if self.profile_overrides:
            changes: dict[str, object] = dict(self.profile_overrides)
            profile = dataclasses.replace(profile, **changes)  # type: ignore[arg-type]
        return EngineConfig(
            profile=profile,
            model_name=self.served_model_names[0],
            block_size=self.block_size,
            num_gpu_blocks_override=self.num_gpu_blocks_override,
            max_num_seqs_override=self.max_num_seqs,
            max_num_batched_tokens_override=self.max_num_batched_tokens,
            max_model_len=self.max_model_len,
            scheduling_policy=self.scheduling_policy,
            enable_prefix_caching=self.enable_prefix_caching,
            time_scale=self.time_scale,
        )

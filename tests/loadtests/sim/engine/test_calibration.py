"""Calibration targets of SIMULATOR.md (H100, Llama-3-8B class), in simulated time."""

from __future__ import annotations

import random
from statistics import mean

import pytest

from loadtests.sim.engine.profiles import PROFILES, get_profile

from .engine_helpers import Run, make_core, make_request, random_tokens, run, text_tokens

H100 = "h100-llama3-8b"


def single_stream_itl(profile: str) -> float:
    core, _ = make_core(profile)
    core.add_request(make_request("chat", text_tokens(500), 200))
    return mean(i for s in run(core).steps for i in s.inter_token_latencies)


def concurrent_chats_itl(profile: str, n: int = 16) -> float:
    core, _ = make_core(profile)
    rng = random.Random(16)
    for i in range(n):
        prompt = text_tokens(rng.randrange(100, 400), seed=i)
        core.add_request(make_request(f"chat-{i}", prompt, 256, seed=i))
    return mean(i for s in run(core).steps for i in s.inter_token_latencies)


def lone_ttft(profile: str, prompt: list[int], start: float = 0.0) -> tuple[float, Run]:
    core, _ = make_core(profile)
    core.add_request(make_request("cold", prompt, 1, arrival_time=start))
    result = run(core, start=start)
    (ttft,) = result.steps[0].ttfts
    return ttft, result


def test_single_stream_decode_itl() -> None:
    assert 6e-3 <= single_stream_itl(H100) <= 7e-3


def test_sixteen_concurrent_short_chats_itl() -> None:
    assert 8e-3 <= concurrent_chats_itl(H100) <= 12e-3


@pytest.mark.parametrize(
    ("prompt_len", "low", "high"),
    [(2048, 0.060, 0.100), (8192, 0.25, 0.40)],
    ids=["2k", "8k"],
)
def test_lone_prompt_ttft(prompt_len: int, low: float, high: float) -> None:
    ttft, _ = lone_ttft(H100, random_tokens(prompt_len, seed=prompt_len))
    assert low <= ttft <= high


def test_fully_cached_8k_prompt_is_ten_times_faster() -> None:
    prompt = random_tokens(8192, seed=8)
    core, _ = make_core(H100)
    core.add_request(make_request("cold", prompt, 1))
    cold = run(core)
    core.add_request(make_request("warm", prompt, 1, arrival_time=cold.now))
    warm = run(core, start=cold.now)
    assert warm.final("warm").num_cached_tokens == 8176
    assert cold.steps[0].ttfts[0] >= 10 * warm.steps[0].ttfts[0]


def test_a100_is_slower_than_h100() -> None:
    prompt = random_tokens(2048, seed=1)
    assert single_stream_itl("a100-llama3-8b") > single_stream_itl(H100)
    assert lone_ttft("a100-llama3-8b", prompt)[0] > lone_ttft(H100, prompt)[0]


def test_instant_profile_takes_no_time() -> None:
    core, _ = make_core("instant")
    core.add_request(make_request("r", random_tokens(3000, seed=1), 5))
    assert all(s.duration == 0.0 for s in run(core).steps)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"num_seqs": 0, "num_tokens": 0, "context_tokens": 0, "attention_pairs": 0}, 0.0),
        # one decode over 1k tokens: memory bound, W + 1k tokens of KV
        (
            {"num_seqs": 1, "num_tokens": 1, "context_tokens": 1024, "attention_pairs": 1024},
            0.8e-3 + 0.15e-3 + (15 * 2**30 + 1024 * 128 * 2**10) / 2.9e12,
        ),
        # a 4k prefill: compute bound, 2·P per token + 4·L·d per causal pair
        (
            {
                "num_seqs": 1,
                "num_tokens": 4096,
                "context_tokens": 4096,
                "attention_pairs": 4096 * 4097 / 2,
            },
            0.8e-3 + 0.15e-3 + (2 * 7.5e9 * 4096 + 4 * 32 * 4096 * 4096 * 4097 / 2) / 450e12,
        ),
    ],
    ids=["empty", "decode", "prefill"],
)
def test_h100_roofline(kwargs: dict[str, int], expected: float) -> None:
    assert get_profile(H100).step_time(**kwargs) == pytest.approx(expected)


def test_profiles_by_name() -> None:
    assert {"h100-llama3-8b", "a100-llama3-8b", "tiny", "instant"} <= set(PROFILES)
    assert get_profile("tiny").num_gpu_blocks <= 5000
    with pytest.raises(KeyError, match="known: a100-llama3-8b, h100-llama3-8b"):
        get_profile("tpu")

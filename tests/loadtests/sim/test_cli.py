from __future__ import annotations

import json

import pytest

from loadtests.sim.cli import build_parser, settings_from_args
from loadtests.sim.output import OutputLengthDist
from loadtests.sim.settings import SimSettings


def settings(*argv: str) -> SimSettings:
    return settings_from_args(build_parser().parse_args(list(argv)))


def test_defaults_are_an_h100_engine_on_loopback() -> None:
    s = settings()
    assert (s.host, s.port, s.profile) == ("127.0.0.1", 8000, "h100-llama3-8b")
    assert s.served_model_names == ("Qwen/Qwen2.5-7B-Instruct",)
    assert s.enable_prefix_caching
    assert not s.kv_events.active
    config = s.engine_config()
    assert (config.num_gpu_blocks, config.max_num_batched_tokens, config.max_num_seqs) == (
        28_000,
        8192,
        1024,
    )


def test_vllm_flags() -> None:
    kv = {"enable_kv_cache_events": True, "endpoint": "tcp://*:6001", "encoding": "map"}
    s = settings(
        "--port", "8001",
        "--served-model-name", "a", "b",
        "--max-model-len", "8192",
        "--block-size", "32",
        "--num-gpu-blocks-override", "500",
        "--max-num-seqs", "64",
        "--max-num-batched-tokens", "4096",
        "--scheduling-policy", "priority",
        "--kv-events-config", json.dumps(kv),
        "--lora-modules", "x=/a", "y=/b",
        "--no-enable-prefix-caching",
        "--seed", "7",
        "--enable-lora",
    )  # fmt: skip
    assert s.served_model_names == ("a", "b")
    assert [(m.name, m.path, m.lora_id) for m in s.lora_modules] == [("x", "/a", 1), ("y", "/b", 2)]
    assert s.kv_events.active
    assert s.kv_events.encoding == "map"
    config = s.engine_config()
    assert config.model_name == "a"
    assert (config.block_size, config.num_gpu_blocks, config.max_num_seqs) == (32, 500, 64)
    assert config.max_num_batched_tokens == 4096
    assert config.scheduling_policy == "priority"
    assert not config.enable_prefix_caching
    assert config.max_model_len == 8192


def test_simulator_flags() -> None:
    s = settings(
        "--profile", "tiny",
        "--profile-override", "mem_bandwidth=1e12",
        "--profile-override", "num_gpu_blocks=100",
        "--time-scale", "10",
        "--output-len-dist", "uniform:5:9",
        "--echo",
        "--fault-http-status", "503",
        "--fault-http-status-rate", "0.25",
        "--fault-cut-after-chunks", "4",
        "--fault-slowdown", "2",
        "--fault-drop-kv-events",
    )  # fmt: skip
    assert s.output_len == OutputLengthDist("uniform", 5, 9)
    assert s.echo
    config = s.engine_config()
    assert config.profile.mem_bandwidth == 1e12
    assert config.profile.num_gpu_blocks == 100
    assert config.time_scale == 10
    assert (s.faults.http_status, s.faults.http_status_rate) == (503, 0.25)
    assert (s.faults.cut_after_chunks, s.faults.slowdown, s.faults.drop_kv_events) == (4, 2, True)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--output-len-dist", "weird"], id="length-spec"),
        pytest.param(["--kv-events-config", "{bad"], id="kv-json"),
        pytest.param(["--lora-modules", "nopath"], id="lora"),
        pytest.param(["--profile-override", "warp=9"], id="override"),
        pytest.param(["--fault-slowdown", "0.1"], id="fault"),
        pytest.param(["--time-scale", "0"], id="time-scale"),
    ],
)
def test_bad_values_raise(argv: list[str]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each subclass carries its own message
        settings(*argv)


def test_unknown_profile_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--profile", "b200"])
    assert "invalid choice" in capsys.readouterr().err

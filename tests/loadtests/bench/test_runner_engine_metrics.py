"""The engines' /metrics as the runner reads them: parsing pages, then deltas over a run."""

from __future__ import annotations

import pytest

from loadtests.bench.engine_metrics import EngineSample, Snapshot, parse, summarize

LABELS = 'engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"'

PAGE = f"""\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{{LABELS}}} 3.0
vllm:num_requests_waiting{{{LABELS}}} 2.0
vllm:kv_cache_usage_perc{{{LABELS}}} 0.25
vllm:num_preemptions_total{{{LABELS}}} 1.0
vllm:prompt_tokens_total{{{LABELS}}} 7000.0
vllm:generation_tokens_total{{{LABELS}}} 150.0
vllm:prefix_cache_queries_total{{{LABELS}}} 7000.0
vllm:prefix_cache_hits_total{{{LABELS}}} 6000.0
vllm:request_success_total{{engine="0",finished_reason="stop",{LABELS[11:]}}} 4.0
vllm:request_success_total{{engine="0",finished_reason="length",{LABELS[11:]}}} 5.0
vllm:request_success_total{{engine="0",finished_reason="abort",{LABELS[11:]}}} 1.0
vllm:time_to_first_token_seconds_bucket{{le="0.1",{LABELS}}} 3.0
vllm:time_to_first_token_seconds_count{{{LABELS}}} 10.0
"""


def test_parse_a_vllm_page() -> None:
    sample = parse(PAGE)
    assert sample == EngineSample(
        prefix_hits=6000,
        prefix_queries=7000,
        preemptions=1,
        requests=10,  # every finished_reason
        prompt_tokens=7000,
        generation_tokens=150,
        running=3,
        waiting=2,
        kv_usage=0.25,
    )


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        pytest.param("", EngineSample(), id="empty"),
        pytest.param("vllm:num_requests_waiting 4\n", EngineSample(waiting=4), id="no-labels"),
        pytest.param(
            'vllm:num_requests_waiting{a="x y}"} 4 1700000000000\n',
            EngineSample(waiting=4),
            id="timestamp-and-brace-in-label",
        ),
        pytest.param(
            "vllm:gpu_prefix_cache_hits_total 5\nvllm:gpu_prefix_cache_queries_total 8\n",
            EngineSample(prefix_hits=5, prefix_queries=8),
            id="older-vllm-names",
        ),
        pytest.param(
            "vllm:gpu_prefix_cache_hits_total 5\nvllm:prefix_cache_hits_total 7\n",
            EngineSample(prefix_hits=7),
            id="new-name-wins",
        ),
        pytest.param("vllm:num_requests_running NaN-ish\n", EngineSample(), id="bad-value"),
    ],
)
def test_parse_edge_cases(page: str, expected: EngineSample) -> None:
    assert parse(page) == expected


def sample(hits: float, queries: float, requests: float, running: float = 0) -> EngineSample:
    return EngineSample(
        prefix_hits=hits,
        prefix_queries=queries,
        requests=requests,
        prompt_tokens=queries,
        preemptions=requests // 10,
        running=running,
    )


def test_summarize_takes_deltas_between_first_and_last_scrape() -> None:
    snapshots = [
        Snapshot(0.0, (sample(0, 100, 1), sample(0, 100, 1))),  # the readiness request
        Snapshot(1.0, (sample(50, 300, 5, running=4), None)),  # engine 1 did not answer
        Snapshot(2.0, (sample(700, 1100, 21), sample(100, 500, 11))),
    ]
    report = summarize(snapshots, time_scale=10)
    assert report.prefix_hit_rate == pytest.approx((700 + 100) / (1000 + 400))
    assert report.requests == (20, 10)
    assert report.prompt_tokens == (1000, 400)
    assert report.computed_prompt_tokens == (300, 300)
    assert report.preemptions == 2 + 1
    assert report.imbalance == pytest.approx(20 / 15)
    assert report.over_time.t_s == (0.0, 10.0, 20.0)
    assert report.over_time.running == ((0, 4, 0), (0, None, 0))


def test_summarize_without_traffic_has_no_rates() -> None:
    report = summarize([Snapshot(0.0, (EngineSample(),)), Snapshot(1.0, (None,))])
    assert report.prefix_hit_rate is None
    assert report.imbalance is None
    assert report.requests == (0,)
    assert report.to_json()["over_time"] == {
        "t_s": [0.0, 1.0],
        "running": [[0, None]],
        "waiting": [[0, None]],
    }

from __future__ import annotations

import pytest

from gateway.discovery.engine_load import EngineLoad, EngineLoadStore, LoraState
from gateway.discovery.prometheus_text import MetricsFormatError
from gateway.discovery.vllm_metrics import NotAnEngineError, parse_engine_load
from tests.gateway.discovery.vllm_pages import EnginePage

SIM_PAGE = b"""\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m1"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m1"} 7.0
"""


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        pytest.param(
            EnginePage(
                waiting=(3.0,),
                running=(12.0,),
                kv_usage=(0.42,),
                prefix_queries=(1000.0,),
                prefix_hits=(250.0,),
                block_size=32,
                num_gpu_blocks=5000,
            ).render(),
            EngineLoad(
                scraped_at=9.0,
                num_waiting=3,
                num_running=12,
                kv_usage=0.42,
                block_size=32,
                num_gpu_blocks=5000,
                prefix_cache_queries=1000.0,
                prefix_cache_hits=250.0,
            ),
            id="vllm-0.10",
        ),
        pytest.param(
            EnginePage(waiting=(1.0,), running=(2.0,), kv_usage=(0.5,), legacy_names=True).render(),
            EngineLoad(9.0, 1, 2, 0.5, 16, 27000, None, 0.0, 0.0),
            id="legacy-names",
        ),
        pytest.param(
            EnginePage(
                model_names=("base", "alias"),
                waiting=(1.0, 2.0),
                running=(3.0, 4.0),
                kv_usage=(0.2, 0.7),
                prefix_queries=(10.0, 20.0),
                prefix_hits=(1.0, 2.0),
            ).render(),
            EngineLoad(9.0, 3, 7, 0.7, 16, 27000, None, 30.0, 3.0),
            id="several-model-names-summed-kv-max",
        ),
        pytest.param(
            EnginePage(
                lora_label_sets=[("a", "", 100.0), ("a,b", "c", 300.0), ("", "", 200.0)],
                max_lora=8,
            ).render(),
            EngineLoad(
                9.0, 0, 0, 0.0, 16, 27000, LoraState(frozenset("ab"), frozenset("c"), 8), 0.0, 0.0
            ),
            id="lora-newest-label-set",
        ),
        pytest.param(
            EnginePage(lora_label_sets=[("", "", 5.0)]).render(),
            EngineLoad(9.0, 0, 0, 0.0, 16, 27000, LoraState(max_loras=4), 0.0, 0.0),
            id="lora-idle",
        ),
        pytest.param(SIM_PAGE, EngineLoad(9.0, 7, 2), id="gauges-only"),
    ],
)
def test_parse_engine_load(page: bytes, expected: EngineLoad) -> None:
    assert parse_engine_load(page, scraped_at=9.0) == expected


@pytest.mark.parametrize(
    ("page", "error"),
    [
        pytest.param(b"<html>busy</html>", NotAnEngineError, id="html"),
        pytest.param(b"", NotAnEngineError, id="empty"),
        pytest.param(SIM_PAGE.replace(b"7.0", b"seven"), MetricsFormatError, id="bad-value"),
        pytest.param(b"# x\nvllm:num_requests_waiting 1\n", NotAnEngineError, id="no-running"),
    ],
)
def test_pages_that_are_not_loads(page: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_engine_load(page, scraped_at=0.0)


def test_cache_config_with_unset_blocks() -> None:
    page = SIM_PAGE + b'vllm:cache_config_info{block_size="16",num_gpu_blocks="None"} 1.0\n'
    load = parse_engine_load(page, scraped_at=0.0)
    assert (load.block_size, load.num_gpu_blocks) == (16, None)


def _load(queries: float | None, hits: float | None) -> EngineLoad:
    return EngineLoad(0.0, 0, 0, prefix_cache_queries=queries, prefix_cache_hits=hits)


@pytest.mark.parametrize(
    ("earlier", "now", "delta"),
    [
        pytest.param(_load(100, 10), _load(150, 30), (50, 20), id="growth"),
        pytest.param(_load(100, 10), _load(100, 10), (0, 0), id="idle"),
        pytest.param(_load(100, 10), _load(40, 5), (40, 5), id="engine-restarted"),
        pytest.param(None, _load(100, 10), None, id="no-baseline"),
        pytest.param(_load(None, None), _load(100, 10), None, id="baseline-without-counters"),
        pytest.param(_load(100, 10), _load(None, None), None, id="not-exported"),
    ],
)
def test_prefix_cache_delta(
    earlier: EngineLoad | None, now: EngineLoad, delta: tuple[float, float] | None
) -> None:
    assert now.prefix_cache_delta(earlier) == delta


@pytest.mark.parametrize(
    ("now", "stale"),
    [
        pytest.param(10.0, False, id="just-scraped"),
        pytest.param(11.0, False, id="exactly-max-age"),
        pytest.param(11.5, True, id="older"),
    ],
)
def test_staleness(now: float, stale: bool) -> None:
    assert EngineLoad(10.0, 0, 0).is_stale(now, max_age=1.0) is stale


def test_store() -> None:
    store = EngineLoadStore()
    store.put("a", EngineLoad(1.0, 1, 1))
    store.put("a", EngineLoad(2.0, 2, 2))
    store.put("b", EngineLoad(2.0, 0, 0))
    store.remove("b")
    store.remove("never-there")
    assert store.get("a") == EngineLoad(2.0, 2, 2)
    assert store.get("b") is None
    assert store.endpoint_ids() == {"a"}
    assert len(store) == 1
    assert LoraState(frozenset("a"), frozenset("b")).active == {"a", "b"}

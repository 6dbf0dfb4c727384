from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from gateway.discovery.datastore import EndpointDatastore
from gateway.discovery.endpoint import Endpoint
from gateway.discovery.model_refresh import ModelListError, ModelRefresher, parse_model_list
from gateway.observability.metrics import GatewayMetrics
from tests.gateway.fake_engine import MODEL, EngineFleet, FakeEngine


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>", id="not-json"),
        pytest.param(b"[]", id="not-object"),
        pytest.param(b'{"data": {}}', id="data-not-array"),
        pytest.param(b'{"data": [{"name": "m"}]}', id="card-without-id"),
    ],
)
def test_bad_model_lists(body: bytes) -> None:
    with pytest.raises(ModelListError):
        parse_model_list(body)


async def test_refresh_tracks_models_adapters_and_readiness() -> None:
    engine = FakeEngine("http://127.0.0.1:18001", adapters={"sql-lora": MODEL})
    fleet = EngineFleet([engine])
    datastore = EndpointDatastore(GatewayMetrics())
    datastore.replace_endpoints([Endpoint("e", engine.url)])
    async with httpx.AsyncClient(transport=fleet.transport()) as client:
        refresher = ModelRefresher(datastore, client, interval_s=60, timeout_s=1)
        assert datastore.snapshot().ready_count() == 0

        await refresher.refresh_all()
        snap = datastore.snapshot().endpoints[0]
        assert snap.ready
        assert snap.models == {MODEL, "sql-lora"}
        assert [c.is_adapter for c in datastore.model_cards()] == [False, True]

        engine.reachable = False
        await refresher.refresh_all()
        assert not datastore.snapshot().endpoints[0].ready
        assert datastore.model_cards() == []

        engine.reachable = True
        await refresher.refresh_all()
        assert datastore.snapshot().endpoints[0].ready


def test_leases_count_in_flight_and_release_once() -> None:
    datastore = EndpointDatastore(GatewayMetrics())
    datastore.replace_endpoints([Endpoint("e", "http://e")])
    first, second = datastore.lease("e"), datastore.lease("e")
    assert datastore.snapshot().endpoints[0].in_flight == 2
    first.release()
    first.release()
    assert datastore.snapshot().endpoints[0].in_flight == 1
    second.release()
    assert datastore.snapshot().endpoints[0].in_flight == 0


async def test_an_engine_added_between_full_refreshes_is_checked_within_a_second() -> None:
    engines = EngineFleet(
        [FakeEngine("http://127.0.0.1:18001"), FakeEngine("http://127.0.0.1:18002")]
    )
    datastore = EndpointDatastore(GatewayMetrics())
    datastore.replace_endpoints([Endpoint("a", engines[0].url)])
    async with httpx.AsyncClient(transport=engines.transport()) as client:
        refresher = ModelRefresher(datastore, client, interval_s=3600, timeout_s=1)
        await refresher.refresh_all()
        task = asyncio.create_task(refresher.run())
        try:
            datastore.replace_endpoints(
                [Endpoint("a", engines[0].url), Endpoint("b", engines[1].url)]
            )
            deadline = asyncio.get_running_loop().time() + 10
            while datastore.snapshot().ready_count() < 2:
                assert asyncio.get_running_loop().time() < deadline, "b never checked"
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert len(engines[0].received) == 1, "a ready engine waits for the full refresh"

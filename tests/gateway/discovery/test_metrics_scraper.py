from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import aiohttp
import httpx
import pytest
from aiohttp import web

from gateway.discovery.endpoint import Endpoint
from gateway.discovery.engine_load import EngineLoad, EngineLoadStore
from gateway.discovery.metrics_scraper import (
    Fetch,
    MetricsScraper,
    aiohttp_fetcher,
    httpx_fetcher,
)
from gateway.types import EndpointId
from loadtests.fleet import Fleet, free_port
from tests.gateway.discovery.vllm_pages import EnginePage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A `ScrapeObserver` that records, and lets a test wait for a condition that scrapes
    make true (no sleeping and polling)."""

    def __init__(self) -> None:
        self.loads: list[tuple[EndpointId, EngineLoad | None, EngineLoad]] = []
        self.failures: list[tuple[EndpointId, str]] = []
        self._scraped = asyncio.Event()

    def scraped(
        self, endpoint_id: EndpointId, previous: EngineLoad | None, load: EngineLoad
    ) -> None:
        self.loads.append((endpoint_id, previous, load))
        self._scraped.set()

    def scrape_failed(self, endpoint_id: EndpointId, reason: str) -> None:
        self.failures.append((endpoint_id, reason))
        self._scraped.set()

    def count(self, endpoint_id: EndpointId) -> int:
        return sum(1 for scraped_id, _, _ in self.loads if scraped_id == endpoint_id)

    async def until(self, check: Callable[[], bool]) -> None:
        """Wait, scrape by scrape, until `check` holds; the test timeout bounds it."""
        while not check():
            self._scraped.clear()
            await self._scraped.wait()


class MetricsServer:
    """A real HTTP server on loopback whose `/metrics` answer each test controls."""

    def __init__(self) -> None:
        self.page = EnginePage(waiting=(2.0,), running=(5.0,), kv_usage=(0.3,)).render()
        self.status = 200
        self.hang = False
        self.hits = 0
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app)
        self.url = ""

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        self._release.set()
        await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.hang:
            await self._release.wait()
        return web.Response(body=self.page, status=self.status, content_type="text/plain")


@pytest.fixture
async def servers() -> AsyncIterator[list[MetricsServer]]:
    started = [MetricsServer(), MetricsServer()]
    for server in started:
        await server.start()
    yield started
    for server in started:
        await server.close()


@asynccontextmanager
async def aiohttp_fetch() -> AsyncIterator[Fetch]:
    async with aiohttp.ClientSession() as session:
        yield aiohttp_fetcher(session)


@asynccontextmanager
async def httpx_fetch() -> AsyncIterator[Fetch]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield httpx_fetcher(client)


FETCHERS = [
    pytest.param(aiohttp_fetch, id="aiohttp"),
    pytest.param(httpx_fetch, id="httpx"),
]
FetchFactory = Callable[[], AbstractAsyncContextManager[Fetch]]


def scraper_for(
    endpoints: list[Endpoint],
    fetch: Fetch,
    *,
    interval_s: float = 0.2,
    timeout_s: float = 1.0,
    jitter: float = 0.1,
    clock: Clock | None = None,
    observer: Recorder | None = None,
) -> tuple[MetricsScraper, EngineLoadStore]:
    store = EngineLoadStore()
    scraper = MetricsScraper(
        lambda: endpoints,
        store,
        fetch,
        interval_s=interval_s,
        timeout_s=timeout_s,
        jitter=jitter,
        observer=observer,
        clock=clock or Clock(),
    )
    return scraper, store


@pytest.mark.parametrize("fetcher", FETCHERS)
async def test_scrapes_real_engines(fetcher: FetchFactory) -> None:
    with Fleet() as fleet:
        sims = [fleet.start_sim(profile="instant", model=f"m{i}") for i in range(2)]
        endpoints = [Endpoint(f"sim{i}", sim.url) for i, sim in enumerate(sims)]
        async with fetcher() as fetch:
            scraper, store = scraper_for(endpoints, fetch)
            await scraper.scrape_all()
    for endpoint in endpoints:
        load = store.get(endpoint.id)
        assert load is not None
        assert (load.num_waiting, load.num_running, load.block_size) == (0, 0, 16)
        assert (load.num_gpu_blocks or 0) > 0
        assert load.kv_usage == 0.0
    assert scraper.failures_total == 0


@pytest.mark.parametrize("fetcher", FETCHERS)
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        pytest.param("status", "status", id="http-500"),
        pytest.param("garbage", "format", id="not-metrics"),
        pytest.param("hang", "timeout", id="hung"),
        pytest.param("down", "unreachable", id="refused"),
    ],
)
async def test_failures_are_counted_not_raised(
    servers: list[MetricsServer], fetcher: FetchFactory, fault: str, reason: str
) -> None:
    server = servers[0]
    url = server.url
    if fault == "status":
        server.status = 500
    elif fault == "garbage":
        server.page = b"<html>oops</html>"
    elif fault == "hang":
        server.hang = True
    else:
        url = f"http://127.0.0.1:{free_port()}"
    recorder = Recorder()
    async with fetcher() as fetch:
        scraper, store = scraper_for([Endpoint("e", url)], fetch, timeout_s=0.05, observer=recorder)
        assert await scraper.scrape(Endpoint("e", url)) is False
    assert recorder.failures == [("e", reason)]
    assert store.get("e") is None
    assert scraper.consecutive_failures("e") == 1
    assert (scraper.scrapes_total, scraper.failures_total) == (1, 1)


async def test_a_failing_engine_keeps_its_last_load_until_stale(
    servers: list[MetricsServer],
) -> None:
    clock, recorder = Clock(), Recorder()
    endpoint = Endpoint("e", servers[0].url)
    async with aiohttp_fetch() as fetch:
        scraper, store = scraper_for(
            [endpoint], fetch, interval_s=0.1, clock=clock, observer=recorder
        )
        assert await scraper.scrape(endpoint)
        first = store.get("e")
        assert first is not None
        assert (first.scraped_at, first.num_waiting, first.num_running) == (100.0, 2, 5)

        servers[0].status = 503
        clock.now = 100.0 + scraper.stale_after + 0.1
        assert not await scraper.scrape(endpoint)
        assert store.get("e") is first
        assert first.is_stale(clock.now, scraper.stale_after)

        servers[0].status = 200
        assert await scraper.scrape(endpoint)
    assert scraper.consecutive_failures("e") == 0
    assert [previous for _, previous, _ in recorder.loads] == [None, first]


async def test_failures_are_logged_once_per_streak(
    servers: list[MetricsServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.discovery.metrics_scraper")
    endpoint = Endpoint("e", servers[0].url)
    servers[0].status = 500
    async with aiohttp_fetch() as fetch:
        scraper, _ = scraper_for([endpoint], fetch, clock=Clock())
        for _ in range(3):
            await scraper.scrape(endpoint)
        servers[0].status = 200
        await scraper.scrape(endpoint)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "scrape of e failed (status, 1 in a row): HTTP 500",
        "scrape of e works again after 3 failures",
    ]
    assert all(record.levelno == logging.DEBUG for record in caplog.records)


def scrape_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("kvgate-scrape")]


async def test_background_loops_follow_the_endpoint_set(servers: list[MetricsServer]) -> None:
    endpoints = [Endpoint("a", servers[0].url), Endpoint("b", servers[1].url)]
    recorder = Recorder()
    async with aiohttp_fetch() as fetch:
        scraper, store = scraper_for(endpoints, fetch, interval_s=0.01, observer=recorder)
        scraper.start()
        with pytest.raises(RuntimeError, match="already started"):
            scraper.start()
        await recorder.until(lambda: store.endpoint_ids() == {"a", "b"})
        await recorder.until(lambda: recorder.count("a") >= 3)  # it keeps scraping

        endpoints.pop()
        await recorder.until(lambda: store.endpoint_ids() == {"a"})
        await recorder.until(lambda: len(scrape_tasks()) == 2)  # the supervisor and a's loop
        assert {task.get_name() for task in scrape_tasks()} == {
            "kvgate-scrape-supervisor",
            "kvgate-scrape-a",
        }

        await scraper.stop()
        await scraper.stop()
    assert scrape_tasks() == []


async def test_a_hung_engine_does_not_delay_the_others(servers: list[MetricsServer]) -> None:
    servers[0].hang = True
    endpoints = [Endpoint("hung", servers[0].url), Endpoint("ok", servers[1].url)]
    recorder = Recorder()
    async with aiohttp_fetch() as fetch:
        scraper, store = scraper_for(
            endpoints, fetch, interval_s=0.01, timeout_s=60, observer=recorder
        )
        scraper.start()
        try:
            await recorder.until(lambda: recorder.count("ok") >= 5)
        finally:
            await scraper.stop()
    assert store.get("hung") is None
    assert servers[0].hits == 1  # never more than one scrape in flight per engine


@pytest.mark.parametrize(
    ("interval_s", "stale_after"),
    [
        pytest.param(0.1, 1.0, id="short-interval-floor"),
        pytest.param(0.5, 1.5, id="three-intervals"),
    ],
)
def test_stale_after(interval_s: float, stale_after: float) -> None:
    async def never(url: str) -> bytes:
        raise AssertionError("not called")

    scraper, _ = scraper_for([], never, interval_s=interval_s)
    assert scraper.stale_after == pytest.approx(stale_after)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"interval_s": 0}, id="zero-interval"),
        pytest.param({"timeout_s": -1}, id="negative-timeout"),
        pytest.param({"jitter": 1.0}, id="jitter-too-large"),
    ],
)
def test_bad_options(options: dict[str, float]) -> None:
    async def never(url: str) -> bytes:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="must be"):
        MetricsScraper(
            list,
            EngineLoadStore(),
            never,
            interval_s=options.get("interval_s", 0.2),
            timeout_s=options.get("timeout_s", 1.0),
            jitter=options.get("jitter", 0.1),
        )

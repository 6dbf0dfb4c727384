"""Gateway replicas sharing a Redis prefix index, and Redis going away under load."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

import pytest

from loadtests.fleet import Fleet, ManagedProcess
from loadtests.redis_server import RedisServer
from tests.gateway.integration.conftest import MODEL
from tests.gateway.integration.helpers import scrape
from tests.gateway.integration.routing import chat, prose, stream

SIM_ARGS = ["--time-scale", "4"]


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[Fleet, list[ManagedProcess]]]:
    with Fleet() as fleet:
        yield (
            fleet,
            [fleet.start_sim(profile="tiny", model=MODEL, extra_args=SIM_ARGS) for _ in range(4)],
        )


def _gateway(
    fleet: Fleet, sims: list[ManagedProcess], redis: RedisServer, prefix: str
) -> ManagedProcess:
    args = ["--redis-url", redis.url, "--redis-key-prefix", prefix]
    return fleet.start_gateway([sim.url for sim in sims], extra_args=args)


def test_two_replicas_sharing_redis_send_a_prefix_to_the_same_engine(
    sims: tuple[Fleet, list[ManagedProcess]],
) -> None:
    fleet, engines = sims
    with RedisServer() as redis:
        prefix = f"kvgate-test-{uuid.uuid4().hex[:8]}"
        first, second = (_gateway(fleet, engines, redis, prefix) for _ in range(2))
        chosen = []
        for i in range(6):
            document = prose(f"replicas-{i}", 1500)
            a = stream(first.url, chat(document, "What is this about?"))
            b = stream(second.url, chat(document, "Summarise it in one line."))
            assert a.status == b.status == 200
            assert b.engine == a.engine, (i, a, b)
            assert b.cached_tokens > 1400, b  # the second replica learnt it from Redis
            chosen.append(a.engine)
        assert scrape(second, "kvgate_prefix_index_redis_errors_total") == 0
        first.stop()
        second.stop()
    assert len(set(chosen)) > 1  # different documents went to different engines


def test_redis_stopping_mid_run_fails_no_request_and_is_counted(
    sims: tuple[Fleet, list[ManagedProcess]],
) -> None:
    fleet, engines = sims
    with RedisServer() as redis:
        gateway = _gateway(fleet, engines, redis, f"kvgate-test-{uuid.uuid4().hex[:8]}")
        documents = [prose(f"outage-{i}", 1200) for i in range(4)]
        bodies = [chat(documents[i % 4], prose(f"outage-q-{i}", 20), 16) for i in range(40)]
        answers = []
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(stream, gateway.url, body) for body in bodies]
            for done, future in enumerate(as_completed(futures), start=1):
                answers.append(future.result())
                if done == 10:
                    redis.stop()
        assert [a.status for a in answers] == [200] * 40
        assert all(a.complete for a in answers)
        # Routing went on from local state: the documents kept hitting their engines.
        after = [stream(gateway.url, chat(doc, "And again?")) for doc in documents]
        assert all(a.status == 200 and a.cached_tokens > 1100 for a in after), after
        assert scrape(gateway, "kvgate_prefix_index_redis_fallbacks_total") > 0
        assert scrape(gateway, "kvgate_prefix_index_redis_errors_total") > 0
        assert scrape(gateway, "kvgate_prefix_index_redis_available") == 0
        gateway.stop()

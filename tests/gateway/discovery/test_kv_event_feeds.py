from __future__ import annotations

from gateway.discovery.datastore import EndpointDatastore
from gateway.discovery.endpoint import Endpoint, ModelCard
from gateway.discovery.kv_event_feeds import KVEventFeeds
from gateway.observability.metrics import GatewayMetrics
from gateway.prefix.memory import MemoryPrefixIndex
from loadtests.fleet import free_port


async def test_subscribers_follow_the_engines_that_have_answered() -> None:
    datastore = EndpointDatastore(GatewayMetrics())
    with_events = Endpoint("a", "http://a", kv_events=f"tcp://127.0.0.1:{free_port()}")
    datastore.replace_endpoints([with_events, Endpoint("b", "http://b")])
    index = MemoryPrefixIndex()
    await index.record("a", "m", [1, 2])
    feeds = KVEventFeeds(datastore, index, block_size=16)
    try:
        await feeds.reconcile()
        assert dict(feeds.stats()) == {}  # its base model (the hash seed) is not known yet
        datastore.update_models("a", [ModelCard("m", None, {})])
        await feeds.reconcile()
        assert set(feeds.stats()) == {"a"}
        assert await index.match("m", [1, 2]) == {}  # the stream starts from empty
        await index.record("a", "m", [1, 2])
        datastore.replace_endpoints([Endpoint("b", "http://b")])
        await feeds.reconcile()
        assert dict(feeds.stats()) == {}
        assert await index.match("m", [1, 2]) == {}  # an engine that left is forgotten
    finally:
        await feeds.stop()

"""The plugin classes every gateway registers."""

from __future__ import annotations

from gateway.plugins.base import RoutingPlugin
from gateway.plugins.filters.not_saturated import NotSaturatedFilter
from gateway.plugins.filters.ready import ReadyFilter
from gateway.plugins.filters.serves_model import ServesModelFilter
from gateway.plugins.pickers.max_score import MaxScorePicker
from gateway.plugins.pickers.random_picker import RandomPicker
from gateway.plugins.pickers.round_robin import RoundRobinPicker
from gateway.plugins.pickers.weighted_random import WeightedRandomPicker
from gateway.plugins.producers.prefix_match import PrefixMatchProducer
from gateway.plugins.scorers.in_flight import InFlightScorer
from gateway.plugins.scorers.kv_cache_usage import KVCacheUsageScorer
from gateway.plugins.scorers.lora_affinity import LoraAffinityScorer
from gateway.plugins.scorers.prefix_cache import PrefixCacheScorer
from gateway.plugins.scorers.queue_depth import QueueDepthScorer
from gateway.plugins.scorers.recent_requests import RecentRequestsScorer
from gateway.plugins.scorers.session_affinity import SessionAffinityScorer

BUILTIN_PLUGINS: tuple[type[RoutingPlugin], ...] = (
    PrefixMatchProducer,
    ServesModelFilter,
    ReadyFilter,
    NotSaturatedFilter,
    PrefixCacheScorer,
    QueueDepthScorer,
    KVCacheUsageScorer,
    InFlightScorer,
    RecentRequestsScorer,
    SessionAffinityScorer,
    LoraAffinityScorer,
    MaxScorePicker,
    WeightedRandomPicker,
    RandomPicker,
    RoundRobinPicker,
)

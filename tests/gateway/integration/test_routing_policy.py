"""A routing policy file reloaded while the gateway serves: applied, or rejected and kept."""

from __future__ import annotations

from pathlib import Path

import yaml

from loadtests.fleet import Fleet
from tests.gateway.integration.conftest import MODEL
from tests.gateway.integration.helpers import poll, scrape
from tests.gateway.integration.routing import chat, stream

POLICY = Path(__file__).parents[3] / "policies" / "routing.yaml"


def _with_threshold(tokens: int) -> str:
    document = yaml.safe_load(POLICY.read_text())
    document["classification"]["longContext"]["promptTokensAbove"] = tokens
    return yaml.safe_dump(document, sort_keys=False)


def test_bad_policy_is_rejected_and_the_last_good_keeps_routing(
    fleet: Fleet, tmp_path: Path
) -> None:
    sims = [fleet.start_sim(profile="instant", model=MODEL) for _ in range(2)]
    path = tmp_path / "routing.yaml"
    path.write_text(POLICY.read_text())
    gateway = fleet.start_gateway(
        [sim.url for sim in sims],
        extra_args=["--policy-file", str(path), "--policy-poll-interval", "0.1"],
    )
    body = chat("You are terse.", "Hello there, how are you today?")

    def request_class() -> str:
        answer = stream(gateway.url, body)
        assert answer.status == 200
        return answer.request_class

    assert request_class() == "chat"
    path.write_text(_with_threshold(5))  # every prompt is now long
    poll(lambda: request_class() == "long_context", what="policy applied")
    assert scrape(gateway, "kvgate_policy_generation") == 2

    path.write_text(_with_threshold(5).replace("max-score-picker", "max-score-pickr"))
    poll(
        lambda: scrape(gateway, "kvgate_policy_reloads_total", result="rejected") == 1,
        what="bad policy rejected",
    )
    assert [request_class() for _ in range(3)] == ["long_context"] * 3
    assert scrape(gateway, "kvgate_policy_generation") == 2
    assert "policy file rejected, still routing with policy generation 2" in gateway.log_tail()
    assert "unknown plugin type 'max-score-pickr'" in gateway.log_tail()

    path.write_text("plugins: [")  # not even YAML
    poll(
        lambda: scrape(gateway, "kvgate_policy_reloads_total", result="rejected") == 2,
        what="broken YAML rejected",
    )
    assert request_class() == "long_context"
    gateway.stop()

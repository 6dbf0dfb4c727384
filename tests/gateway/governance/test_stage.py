"""The governance stage alone: which requests the monitor observes, headers, sinks fed."""

from __future__ import annotations

import pytest

from gateway.discovery.endpoint import Endpoint
from gateway.governance.config import ModelVersions as ModelVersionsConfig
from gateway.governance.config import MonitorConfig
from gateway.governance.monitor import OutputMonitor
from gateway.governance.record import ModelVersion
from gateway.governance.stage import Governance
from gateway.governance.versions import ModelVersions
from gateway.safety.interfaces import GuardVerdict
from gateway.types import RequestKind
from tests.gateway.governance.facts import MODEL, Facts, answered, call

OUTPUT_BLOCK = GuardVerdict("output-rules", "block", "weapons", stage="output")
INPUT_FLAG = GuardVerdict("pii", "flag", "email")
ALLOWED = GuardVerdict("injection", "allow", "none", score=0.1)


def _governance() -> tuple[Governance, OutputMonitor]:
    monitor = OutputMonitor(MonitorConfig.model_validate({}))
    versions = ModelVersions(lambda engine, model: "/models/qwen", ModelVersionsConfig())
    return Governance(versions, monitor=monitor), monitor


@pytest.mark.parametrize(
    ("facts", "observed", "finish", "guard_rate"),
    [
        pytest.param(answered(), True, "stop", 0.0, id="answered"),
        pytest.param(answered(verdicts=[INPUT_FLAG]), True, "stop", 1.0, id="flagged-input"),
        pytest.param(answered(verdicts=[ALLOWED]), True, "stop", 0.0, id="allow-is-no-trigger"),
        pytest.param(
            answered(status=200, answer=None, verdicts=[OUTPUT_BLOCK]),
            True,
            "content_filter",
            1.0,
            id="stream-cut-by-output-guard",
        ),
        pytest.param(
            answered(status=400, answer=None, verdicts=[OUTPUT_BLOCK]),
            True,
            "content_filter",
            1.0,
            id="body-replaced-by-output-guard",
        ),
        pytest.param(answered(status=502, answer=None), False, None, None, id="engine-failed"),
        pytest.param(answered(status=500), False, None, None, id="engine-error-status"),
        pytest.param(answered(model_version=None), False, None, None, id="no-engine"),
        pytest.param(
            answered(call({"model": MODEL, "input": "x"}, RequestKind.EMBEDDING)),
            False,
            None,
            None,
            id="embedding",
        ),
        pytest.param(Facts(call(), status=400), False, None, None, id="rejected"),
    ],
)
async def test_what_the_monitor_observes(
    facts: Facts, observed: bool, finish: str | None, guard_rate: float | None
) -> None:
    governance, monitor = _governance()
    governance.record(facts)
    await monitor.start()
    await monitor.drained()
    await governance.aclose()
    series = monitor.stats().series
    assert bool(series) is observed
    if series:
        [one] = series
        assert finish is not None
        assert one.version == "/models/qwen@rev-7"
        assert one.baseline.finish_reasons[finish] == 1.0
        assert one.baseline.guard_trigger_rate == guard_rate


@pytest.mark.parametrize(
    ("label", "header"),
    [
        pytest.param("/models/qwen@abc", b"/models/qwen@abc", id="ascii"),
        pytest.param("/models/q\r\nx: y", b"/models/q??x: y", id="no-header-injection"),
        pytest.param("/modèles/q", "/modèles/q".encode("latin-1"), id="latin-1"),
        pytest.param("/模型/q", b"/??/q", id="beyond-latin-1"),
    ],
)
def test_model_version_header_is_header_safe(label: str, header: bytes) -> None:
    governance, _ = _governance()
    headers = dict(governance.response_headers(ModelVersion(label), "ab" * 32))
    assert headers[b"x-kvgate-model-version"] == header
    assert headers[b"x-kvgate-prompt-hash"] == b"ab" * 32


def test_no_headers_before_an_engine_was_chosen() -> None:
    governance, _ = _governance()
    assert governance.response_headers(None, None) == []


def test_version_from_labels_then_config() -> None:
    config = ModelVersionsConfig(revisions={MODEL: "cfg-rev"})
    versions = ModelVersions(lambda engine, model: None, config)
    labelled = Endpoint("e1", "http://e1", {"kvgate.dev/model-revision": "label-rev"})
    plain = Endpoint("e2", "http://e2")
    assert versions.resolve(labelled, MODEL).label == f"{MODEL}@label-rev"
    assert versions.resolve(plain, MODEL).label == f"{MODEL}@cfg-rev"
    assert versions.resolve(plain, "other").label == "other"

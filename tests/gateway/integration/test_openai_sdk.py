"""The OpenAI Python SDK, unchanged, against a gateway in front of two simulated engines."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from loadtests.fleet import ManagedProcess
from tests.gateway.integration.conftest import MODEL, SharedFleet
from tests.gateway.integration.helpers import metric_sum

MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "Say something."}]


@pytest.fixture(scope="module")
def client(gateway: ManagedProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_chat(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5)
    assert answer.choices[0].message.content
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 5


def test_chat_stream_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6
    assert len({chunk.id for chunk in chunks}) == 1


def test_chat_stream_n2(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_tokens=4,
        n=2,
        stream=True,
    )
    finished = {c.choices[0].index for c in stream if c.choices and c.choices[0].finish_reason}
    assert finished == {0, 1}


def test_tools_and_response_format_pass_through(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_tokens=3,
        tools=[
            {
                "type": "function",
                "function": {"name": "lookup", "parameters": {"type": "object"}},
            }
        ],
        tool_choice="auto",
        response_format={"type": "json_object"},
        extra_body={"x_unknown_field": {"nested": [1, 2]}, "priority": 0},
    )
    assert answer.choices[0].finish_reason in {"length", "stop"}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_completions(client: openai.OpenAI, stream: bool) -> None:
    if stream:
        chunks = list(
            client.completions.create(model=MODEL, prompt="Once upon", max_tokens=4, stream=True)
        )
        assert "".join(chunk.choices[0].text for chunk in chunks if chunk.choices)
    else:
        answer = client.completions.create(model=MODEL, prompt="Once upon", max_tokens=4)
        assert answer.object == "text_completion"
        assert answer.choices[0].text


def test_embeddings(client: openai.OpenAI) -> None:
    answer = client.embeddings.create(model=MODEL, input=["one", "two"])
    assert [item.index for item in answer.data] == [0, 1]
    assert len(answer.data[0].embedding) > 0


def test_models(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == [MODEL]


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert caught.value.code == "model_not_found"


def test_wrong_types_are_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            extra_body={"max_tokens": "ten"},
        )
    assert caught.value.param == "max_tokens"


@pytest.mark.parametrize(
    ("content", "status"),
    [
        pytest.param(b'{"model": "x", "messages": [', 400, id="malformed-json"),
        pytest.param(b'{"model": "x", "pad": "' + b"a" * 70_000 + b'"}', 413, id="huge-body"),
    ],
)
def test_raw_bad_bodies(gateway: ManagedProcess, content: bytes, status: int) -> None:
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=content,
        headers={"content-type": "application/json"},
        trust_env=False,
    )
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_request_id_round_trip(gateway: ManagedProcess) -> None:
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": MODEL, "messages": MESSAGES, "max_tokens": 2},
        headers={"x-request-id": "trace-42"},
        trust_env=False,
    )
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["id"] == "chatcmpl-trace-42"  # the engine saw our id


def test_round_robin_profile_spreads_over_both_engines(shared: SharedFleet) -> None:
    # The default profiles break ties at random; the round-robin baseline alternates.
    gateway = shared.fleet.start_gateway(
        [sim.url for sim in shared.sims], extra_args=["--routing-profile", "round-robin"]
    )
    with httpx.Client(base_url=gateway.url, trust_env=False) as http:
        for _ in range(6):
            http.post(
                "/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 1}
            ).raise_for_status()
        metrics = http.get("/metrics").text
    gateway.stop()
    per_engine = [
        metric_sum(
            metrics, "kvgate_requests_total", route="completion", engine=f"127.0.0.1:{s.port}"
        )
        for s in shared.sims
    ]
    assert per_engine == [3, 3], per_engine


def test_admin_endpoints(gateway: ManagedProcess) -> None:
    with httpx.Client(base_url=gateway.url, trust_env=False) as http:
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        metrics = http.get("/metrics")
    assert ready.status_code == 200
    assert ready.json()["ready_engines"] == 2
    assert "kvgate_requests_total" in metrics.text
    assert "kvgate_engine_in_flight_requests" in metrics.text

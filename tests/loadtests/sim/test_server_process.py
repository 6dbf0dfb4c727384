"""The simulator as real processes on loopback: the prefix cache, preemption, disconnects and
faults seen through HTTP and `/metrics` only, as a router sees them. Polls use deadlines;
no assertion depends on how long anything took."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgpack
import openai
import pytest
import zmq
from prometheus_client.parser import text_string_to_metric_families

from loadtests.fleet import Fleet, ManagedProcess, free_port

MODEL = "Qwen/Qwen2.5-7B-Instruct"
DEADLINE_S = 20.0


# --- helpers ------------------------------------------------------------------------------


def metrics(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(url + "/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(url: str, name: str, **labels: str) -> float:
    """The one sample of `name` whose labels include `labels` (model and engine implied)."""
    wanted = {"model_name": MODEL, "engine": "0", **labels}
    values = [
        value
        for (sample, sample_labels), value in metrics(url).items()
        if sample == name and set(wanted.items()) <= sample_labels
    ]
    assert len(values) == 1, (name, labels, values)
    return values[0]


def wait_for(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def idle(url: str) -> bool:
    return (
        metric(url, "vllm:num_requests_running") == 0
        and metric(url, "vllm:num_requests_waiting") == 0
    )


def prompt_of_tokens(url: str, count: int, salt: str) -> str:
    """A `/v1/completions` prompt of exactly `count` tokens (checked with `/tokenize`)."""

    def tokens(text: str) -> int:
        response = httpx.post(url + "/tokenize", json={"prompt": text}, timeout=5)
        return int(response.json()["count"])

    text = salt + " the" * (count - tokens(salt))  # " the" is one token after any word
    assert tokens(text) == count, text
    return text


def complete(url: str, prompt: str, **extra: Any) -> dict[str, Any]:
    body = {"model": MODEL, "prompt": prompt, "max_tokens": 1, **extra}
    response = httpx.post(url + "/v1/completions", json=body, timeout=30)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def set_faults(url: str, **faults: object) -> dict[str, Any]:
    response = httpx.post(url + "/_sim/faults", json=faults, timeout=5)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


NO_FAULTS = {
    "http_status": None,
    "http_status_rate": 1.0,
    "stall_first_byte_s": 0.0,
    "cut_after_chunks": None,
    "slowdown": 1.0,
    "drop_kv_events": False,
}


def kv_events_args(port: int, encoding: str) -> list[str]:
    config = {
        "enable_kv_cache_events": True,
        "publisher": "zmq",
        "endpoint": f"tcp://*:{port}",
        "topic": "kv-events",
        "encoding": encoding,
    }
    return ["--kv-events-config", json.dumps(config)]


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[ManagedProcess, int]]:
    """One real-time `tiny` engine shared by the tests of this module, KV events on."""
    kv_port = free_port()
    with Fleet() as fleet:
        process = fleet.start_sim(profile="tiny", extra_args=kv_events_args(kv_port, "array"))
        yield process, kv_port


@pytest.fixture
def url(sim: tuple[ManagedProcess, int]) -> Iterator[str]:
    yield sim[0].url
    set_faults(sim[0].url, **NO_FAULTS)


# --- prefix cache -------------------------------------------------------------------------


def test_repeated_32_token_prompt_hits_16_tokens(url: str) -> None:
    prompt = prompt_of_tokens(url, 32, "cap")
    complete(url, prompt)
    wait_for(lambda: idle(url), "idle")
    hits = metric(url, "vllm:prefix_cache_hits_total")
    queries = metric(url, "vllm:prefix_cache_queries_total")
    second = complete(url, prompt)
    wait_for(lambda: idle(url), "idle")
    # 2 full blocks cached, but the last prompt token is always recomputed: floor(31/16) = 1.
    assert metric(url, "vllm:prefix_cache_hits_total") - hits == 16
    assert metric(url, "vllm:prefix_cache_queries_total") - queries == 32
    assert second["usage"]["prompt_tokens_details"] == {"cached_tokens": 16}


def test_kv_usage_returns_to_zero_while_cache_still_hits(url: str) -> None:
    prompt = prompt_of_tokens(url, 100, "warm")
    complete(url, prompt, max_tokens=20)
    wait_for(lambda: idle(url), "idle")
    wait_for(lambda: metric(url, "vllm:kv_cache_usage_perc") == 0.0, "kv usage back to 0")
    hits = metric(url, "vllm:prefix_cache_hits_total")
    complete(url, prompt)
    assert metric(url, "vllm:prefix_cache_hits_total") - hits == 96  # floor(99/16) blocks


def test_preemption_under_kv_pressure(fleet: Fleet) -> None:
    process = fleet.start_sim(
        profile="tiny", extra_args=["--num-gpu-blocks-override", "40", "--time-scale", "20"]
    )
    url = process.url

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            bodies = [
                {"model": MODEL, "prompt": f"request {i}" + " go" * 48, "max_tokens": 200}
                for i in range(12)
            ]
            return list(
                await asyncio.gather(*(client.post("/v1/completions", json=b) for b in bodies))
            )

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses)
    assert all(r.json()["usage"]["completion_tokens"] == 200 for r in responses)
    assert metric(url, "vllm:num_preemptions_total") > 0
    wait_for(lambda: metric(url, "vllm:kv_cache_usage_perc") == 0.0, "blocks released")


# --- disconnects --------------------------------------------------------------------------


def test_client_disconnect_mid_stream_aborts_and_frees_the_slot(url: str) -> None:
    aborts = metric(url, "vllm:request_success_total", finished_reason="abort")
    body = {"model": MODEL, "prompt": "a long story", "max_tokens": 3000, "stream": True}
    with (
        httpx.Client(base_url=url, timeout=10) as client,
        client.stream("POST", "/v1/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        received = [line for _, line in zip(range(6), lines, strict=False) if line]
        assert len(received) == 3
        assert metric(url, "vllm:num_requests_running") == 1
    wait_for(lambda: metric(url, "vllm:num_requests_running") == 0, "slot freed")
    wait_for(
        lambda: metric(url, "vllm:request_success_total", finished_reason="abort") == aborts + 1,
        "abort counted",
    )
    wait_for(lambda: metric(url, "vllm:kv_cache_usage_perc") == 0.0, "blocks released")


def test_client_disconnect_while_waiting_for_a_non_streamed_answer(url: str) -> None:
    aborts = metric(url, "vllm:request_success_total", finished_reason="abort")
    body = {"model": MODEL, "prompt": "another long story", "max_tokens": 3000}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/v1/completions", json=body, timeout=httpx.Timeout(5, read=0.5))
    wait_for(lambda: metric(url, "vllm:num_requests_running") == 0, "slot freed")
    wait_for(
        lambda: metric(url, "vllm:request_success_total", finished_reason="abort") == aborts + 1,
        "abort counted",
    )


# --- faults -------------------------------------------------------------------------------


def test_fault_http_status(url: str) -> None:
    assert set_faults(url, http_status=503)["http_status"] == 503
    assert httpx.get(url + "/_sim/faults").json()["http_status"] == 503
    response = httpx.post(url + "/v1/completions", json={"prompt": "hi", "max_tokens": 1})
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "ServiceUnavailableError"
    assert httpx.get(url + "/health").status_code == 200  # only inference endpoints fail
    set_faults(url, http_status=500, http_status_rate=0.0)
    assert httpx.post(url + "/v1/completions", json={"prompt": "hi"}).status_code == 200


def test_fault_rejects_bad_values(url: str) -> None:
    for patch in ({"slowdown": 0.5}, {"http_status": 200}, {"nope": 1}, {"cut_after_chunks": "x"}):
        response = httpx.post(url + "/_sim/faults", json=patch)
        assert response.status_code == 400, patch
        assert response.json()["error"]["type"] == "BadRequestError"


def test_fault_stall_before_first_byte(url: str) -> None:
    set_faults(url, stall_first_byte_s=5.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            url + "/v1/completions",
            json={"prompt": "hi", "max_tokens": 1},
            timeout=httpx.Timeout(5, read=0.3),
        )


def test_fault_cut_after_chunks_breaks_the_stream(url: str) -> None:
    set_faults(url, cut_after_chunks=3)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    events: list[str] = []

    def read_stream() -> None:
        with (
            httpx.Client(base_url=url, timeout=10) as client,
            client.stream("POST", "/v1/chat/completions", json=body) as response,
        ):
            assert response.status_code == 200
            events.extend(line for line in response.iter_lines() if line)

    with pytest.raises(httpx.RemoteProtocolError):
        read_stream()
    assert len(events) == 4  # the role chunk and three content chunks
    assert "data: [DONE]" not in events
    wait_for(lambda: metric(url, "vllm:num_requests_running") == 0, "cut request aborted")


def _step_cost(url: str) -> float:
    steps = metric(url, "kvgate_sim_steps_total")
    busy = metric(url, "kvgate_sim_busy_seconds_total")
    complete(url, "measure one decode", max_tokens=30)
    wait_for(lambda: idle(url), "idle")
    return (metric(url, "kvgate_sim_busy_seconds_total") - busy) / (
        metric(url, "kvgate_sim_steps_total") - steps
    )


def test_fault_slowdown_multiplies_step_time(url: str) -> None:
    wait_for(lambda: idle(url), "idle")
    normal = _step_cost(url)
    set_faults(url, slowdown=4.0)
    slow = _step_cost(url)
    assert 3.5 < slow / normal < 4.5


# --- KV events ----------------------------------------------------------------------------


class Subscriber:
    """A ZMQ SUB socket on a simulator's KV-event endpoint; remembers the last sequence seen."""

    def __init__(self, port: int) -> None:
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.socket: zmq.Socket[bytes] = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"kv-events")
        self.socket.connect(f"tcp://127.0.0.1:{port}")
        self.last_seq = -1

    def receive(self, timeout_ms: int = 100) -> list[tuple[int, list[Any]]]:
        batches = []
        while self.socket.poll(timeout_ms):
            topic, seq, payload = self.socket.recv_multipart()
            assert topic == b"kv-events"
            assert len(seq) == 8
            self.last_seq = int.from_bytes(seq, "big")
            batches.append((self.last_seq, msgpack.unpackb(payload)))
            timeout_ms = 0
        return batches

    def close(self) -> None:
        self.socket.close(linger=0)
        self.context.term()


def sync(subscriber: Subscriber, url: str) -> list[tuple[int, list[Any]]]:
    """Send requests until batches arrive (ZMQ's slow joiner); returns the first batches."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        complete(url, prompt_of_tokens(url, 40, f"sync{time.monotonic_ns()}"))
        if batches := subscriber.receive(200):
            return batches + subscriber.receive(200)
    raise AssertionError("no KV events received")


def event_fields(event: Any, encoding: str) -> tuple[str, dict[str, Any]]:
    if encoding == "array":
        tag = event[0]
        names = {
            "BlockStored": [
                "block_hashes",
                "parent_block_hash",
                "token_ids",
                "block_size",
                "lora_id",
                "medium",
            ],
            "BlockRemoved": ["block_hashes", "medium"],
            "AllBlocksCleared": [],
        }[tag]
        assert len(event) == len(names) + 1
        return tag, dict(zip(names, event[1:], strict=True))
    assert isinstance(event, dict)
    return event["type"], {k: v for k, v in event.items() if k != "type"}


def check_kv_events(url: str, port: int, encoding: str) -> None:
    subscriber = Subscriber(port)
    try:
        sync(subscriber, url)
        complete(url, prompt_of_tokens(url, 70, f"events{encoding}"), max_tokens=40)
        wait_for(lambda: idle(url), "idle")
        batches = subscriber.receive(500)
    finally:
        subscriber.close()
    seqs = [seq for seq, _ in batches]
    assert seqs == sorted(seqs)
    announced: set[int] = set()
    stored_tokens = 0
    for _, payload in batches:
        timestamp, events, dp_rank = payload
        assert isinstance(timestamp, float)
        assert dp_rank == 0
        for event in events:
            tag, fields = event_fields(event, encoding)
            if tag != "BlockStored":
                continue
            parent = fields["parent_block_hash"]
            assert parent is None or parent in announced, "a parent must be announced first"
            assert fields["block_size"] == 16
            assert fields["medium"] == "GPU"
            assert len(fields["token_ids"]) == 16 * len(fields["block_hashes"])
            assert all(isinstance(h, int) and 0 <= h < 2**64 for h in fields["block_hashes"])
            if encoding == "map":
                assert "lora_name" in fields
                assert fields["lora_id"] is None
            announced.update(fields["block_hashes"])
            stored_tokens += len(fields["token_ids"])
    # The 70-token prompt fills 4 blocks; 40 generated tokens complete 2 more (110 // 16 = 6).
    assert stored_tokens >= 6 * 16


def test_kv_events_array_encoding(sim: tuple[ManagedProcess, int]) -> None:
    process, port = sim
    check_kv_events(process.url, port, "array")


def test_kv_events_map_encoding(fleet: Fleet) -> None:
    port = free_port()
    process = fleet.start_sim(profile="instant", extra_args=kv_events_args(port, "map"))
    check_kv_events(process.url, port, "map")


def test_fault_drop_kv_events_loses_batches_and_leaves_a_sequence_gap(
    sim: tuple[ManagedProcess, int], url: str
) -> None:
    subscriber = Subscriber(sim[1])
    try:
        sync(subscriber, url)
        last_seen = subscriber.last_seq
        dropped = metric(url, "kvgate_sim_kv_event_batches_dropped_total")
        set_faults(url, drop_kv_events=True)
        complete(url, prompt_of_tokens(url, 40, "dropped"))
        wait_for(
            lambda: metric(url, "kvgate_sim_kv_event_batches_dropped_total") > dropped,
            "batches dropped",
        )
        set_faults(url, drop_kv_events=False)  # a fresh socket; the subscriber reconnects
        resumed = sync(subscriber, url)
    finally:
        subscriber.close()
    assert resumed[0][0] > last_seen + 1  # the dropped batches left a gap in the sequence


# --- clients and process lifecycle ------------------------------------------------------------


def test_openai_sdk_against_a_process(url: str) -> None:
    client = openai.OpenAI(base_url=url + "/v1", api_key="none", timeout=30)
    with client:
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hello"}],
            max_tokens=8,
            stream=True,
        )
        chunks = list(stream)
        assert chunks[0].choices[0].delta.role == "assistant"
        assert chunks[-1].choices[0].finish_reason == "length"
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hello"}], max_tokens=8
        )
        assert reply.usage is not None
        assert reply.usage.completion_tokens == 8
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "x"}]
            )


def test_no_flags_start_a_usable_h100_engine(fleet: Fleet) -> None:
    port = free_port()
    args = [sys.executable, "-m", "loadtests.sim", "--port", str(port)]
    process = fleet.spawn("bare", args, port)
    process.wait_ready("/health")
    [(labels, value)] = [
        (dict(labels), value)
        for (name, labels), value in metrics(process.url).items()
        if name == "vllm:cache_config_info"
    ]
    assert value == 1.0
    assert labels["engine"] == "0"
    assert labels["num_gpu_blocks"] == "28000"
    assert labels["block_size"] == "16"
    assert complete(process.url, "hello")["choices"][0]["finish_reason"] == "length"


def test_sigterm_mid_stream_exits_cleanly(fleet: Fleet) -> None:
    process = fleet.start_sim(profile="tiny")
    body = {"model": MODEL, "prompt": "long", "max_tokens": 5000, "stream": True}
    with (
        httpx.Client(base_url=process.url, timeout=10) as client,
        client.stream("POST", "/v1/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        next(line for line in lines if line)
        process.signal(signal.SIGTERM)
        rest = [line for line in lines if line]
    # Before uvicorn's deadline the engine stops: the stream ends cleanly, finish "abort".
    assert rest[-1] == "data: [DONE]"
    assert json.loads(rest[-2][len("data: ") :])["choices"][0]["finish_reason"] == "abort"
    assert process.popen.wait(15) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    assert "Traceback" not in process.log_tail()

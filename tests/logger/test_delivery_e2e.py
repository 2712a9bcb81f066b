"""Zero loss end to end, against the real dev-stack Kafka, Elasticsearch and OpenSearch: requests go
through a real `inferwatch logger` process in front of a real model server process; then every request id
is looked up in the topic and in the index (count and set equality), also across broker/node outages and a
SIGKILL of the logger."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer

from tests.logger.processes import LoggerProcess, ModelProcess
from tests.search_index import index_ids

N = 20_000
SENDERS = 8
OUTAGE = 60.0


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelProcess]:
    m = ModelProcess(tmp_path_factory.mktemp("model"))
    yield m
    m.end()


class Traffic:
    """``SENDERS`` threads sending predictions through the logger until ``n`` were answered 200."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.n = url, n
        self.answered: list[str] = []
        self.failed = 0
        self._sent = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(SENDERS)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while True:
                with self._lock:
                    if self._sent >= self.n:
                        return
                    self._sent += 1
                rid = f"e2e-{uuid.uuid4().hex}"
                try:
                    r = http.post(
                        f"{self.url}/api/v1.0/predictions",
                        json={"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}},
                        headers={"x-request-id": rid},
                    )
                    ok = r.status_code == 200 and r.headers["x-request-id"] == rid
                except httpx.TransportError:
                    ok = False
                with self._lock:
                    if ok:
                        self.answered.append(rid)
                    else:
                        self.failed += 1

    def wait_for(self, count: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while len(self.answered) < count:
            assert time.monotonic() < deadline, f"only {len(self.answered)} requests answered"
            time.sleep(0.05)

    def join(self, timeout: float = 600, *, strict: bool = True) -> list[str]:
        for t in self._threads:
            t.join(timeout)
        if not strict:
            return self.answered
        assert self.failed == 0, f"{self.failed} predictions failed: the prediction path must not break"
        assert len(self.answered) == self.n
        return self.answered


def wait_delivered(logger: LoggerProcess, sinks: list[str], n: int, timeout: float = 240) -> None:
    """Until every sink wrote ``n`` records and no spool holds a backlog."""
    deadline = time.monotonic() + timeout
    while True:
        written = {s: logger.metric("inferwatch_sink_records_written_total", sink=s) for s in sinks}
        backlog = {s: logger.metric("inferwatch_spool_records", sink=s) for s in sinks}
        if all(v >= n for v in written.values()) and not any(backlog.values()):
            return
        assert time.monotonic() < deadline, f"not delivered: written={written} spooled={backlog}"
        time.sleep(0.5)


def topic_keys(bootstrap: str, topic: str, expect: int, timeout: float = 120) -> list[str]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    keys: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(set(keys)) < expect and time.monotonic() < deadline:
            for msg in consumer:
                keys.append(msg.key.decode())
                if len(set(keys)) >= expect:
                    break
    finally:
        consumer.close()
    return keys


def _es(url: str) -> Any:
    from elasticsearch import Elasticsearch

    return Elasticsearch(url, request_timeout=60)


def _os(url: str) -> Any:
    from opensearchpy import OpenSearch

    return OpenSearch(url, timeout=60)


def _run(
    tmp_path: Path,
    model: ModelProcess,
    sinks: dict[str, str],
    fault: Callable[[Traffic], None] | None = None,
    *extra: str,
) -> list[str]:
    logger = LoggerProcess(tmp_path, model.url, list(sinks.values()), "--linger-ms", "20", *extra)
    try:
        traffic = Traffic(logger.url, N)
        if fault is not None:
            fault(traffic)
        answered = traffic.join()
        wait_delivered(logger, list(sinks), N)
    except BaseException:
        logger.end()
        raise
    assert logger.end() == 0, logger.output()
    return answered


@pytest.mark.kafka
@pytest.mark.elasticsearch
def test_20k_requests_each_exactly_once_in_topic_and_index(
    tmp_path: Path, model: ModelProcess, kafka_bootstrap: str, elasticsearch_url: str, unique_name: Any
) -> None:
    topic, index = unique_name("e2e"), unique_name("inference-log-e2e")
    host = elasticsearch_url.removeprefix("http://")
    sinks = {
        "kafka": f"kafka://{kafka_bootstrap}?topic={topic}",
        "elasticsearch": f"elasticsearch://{host}?index={index}",
    }
    answered = _run(tmp_path, model, sinks)
    keys = topic_keys(kafka_bootstrap, topic, N)
    assert len(keys) == N and set(keys) == set(answered)
    ids = index_ids(_es(elasticsearch_url), index)
    assert len(ids) == N and set(ids) == set(answered)


@pytest.mark.kafka
@pytest.mark.elasticsearch
@pytest.mark.parametrize("down", ["kafka", "elasticsearch"])
def test_a_sink_down_for_60s_mid_stream_loses_nothing(
    tmp_path: Path,
    model: ModelProcess,
    kafka_bootstrap: str,
    elasticsearch_url: str,
    unique_name: Any,
    devstack: Any,
    down: str,
) -> None:
    topic, index = unique_name(f"e2e-{down}-out"), unique_name(f"inference-log-e2e-{down}-out")
    host = elasticsearch_url.removeprefix("http://")
    sinks = {
        "kafka": f"kafka://{kafka_bootstrap}?topic={topic}",
        "elasticsearch": f"elasticsearch://{host}?index={index}",
    }

    def outage(traffic: Traffic) -> None:
        traffic.wait_for(N // 4)
        devstack.stack.down_one(down)
        time.sleep(OUTAGE)
        devstack.stack.up_one(down)

    answered = _run(tmp_path, model, sinks, outage)
    ids = index_ids(_es(elasticsearch_url), index)
    assert len(ids) == N and set(ids) == set(answered), "no loss and no duplicates in the index"
    keys = topic_keys(kafka_bootstrap, topic, N)
    assert set(keys) == set(answered), "no loss in the topic"
    if down == "elasticsearch":  # Kafka never failed: exactly once there
        assert len(keys) == N
    assert not list((tmp_path / "spool").rglob("*.seg")), "every spool drained"


@pytest.mark.elasticsearch
def test_sigkill_with_sync_durability_loses_nothing_in_the_index(
    tmp_path: Path, model: ModelProcess, elasticsearch_url: str, unique_name: Any
) -> None:
    index = unique_name("inference-log-e2e-kill")
    sinks = [f"elasticsearch://{elasticsearch_url.removeprefix('http://')}?index={index}"]
    first = LoggerProcess(
        tmp_path, model.url, sinks, "--durability", "sync", "--linger-ms", "600000", "--batch-size", "100000"
    )
    traffic = Traffic(first.url, 3000)
    traffic.wait_for(1000)
    first.end(signal.SIGKILL)
    answered = list(traffic.join(60, strict=False))  # requests after the kill fail: that is the point
    assert len(answered) >= 1000
    second = LoggerProcess(tmp_path, model.url, sinks, "--durability", "sync", "--linger-ms", "20")
    try:
        wait_delivered(second, ["elasticsearch"], len(answered))
    finally:
        assert second.end() == 0, second.output()
    ids = index_ids(_es(elasticsearch_url), index)
    assert set(answered) <= set(ids), f"{len(set(answered) - set(ids))} answered requests lost"
    assert len(ids) == len(set(ids))
    assert len(set(ids) - set(answered)) <= SENDERS  # at most the requests in flight at the kill


@pytest.mark.opensearch
def test_opensearch_happy_path(tmp_path: Path, model: ModelProcess, opensearch_url: str, unique_name: Any) -> None:
    index = unique_name("inference-log-e2e-os")
    sinks = {"opensearch": f"opensearch://{opensearch_url.removeprefix('http://')}?index={index}"}
    answered = _run(tmp_path, model, sinks)
    ids = index_ids(_os(opensearch_url), index)
    assert len(ids) == N and set(ids) == set(answered)

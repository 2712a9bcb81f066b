"""The dev-stack Kafka broker (KRaft, combined mode), driven with kafka-python 3.x.

10k keyed messages with acks=all are consumed back by a consumer group that commits; a restarted consumer
gets nothing again. A broker stop/start in the middle of producing is survived by the producer's retries.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.serializer import Deserializer, Serializer

from devstack.base import ServicePaths
from devstack.kafka import KafkaService
from devstack.pytest_plugin import SessionStack
from devstack.stack import proc_stat
from inferwatch.settings import CommonSettings
from inferwatch.sources.kafka import group_consumer

pytestmark = pytest.mark.kafka

N_MESSAGES = 10_000
N_KEYS = 500


class Utf8(Serializer, Deserializer):
    """str <-> UTF-8 bytes for keys and values."""

    def serialize(self, topic: str, headers: list[tuple[str, bytes]], data: str | None) -> bytes | None:
        return None if data is None else data.encode()

    def deserialize(self, topic: str, headers: list[tuple[str, bytes]], data: bytes | None) -> str | None:
        return None if data is None else data.decode()


def make_producer(bootstrap: str, **extra: object) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        key_serializer=Utf8(),
        value_serializer=Utf8(),
        **extra,
    )


def make_consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    consumer: KafkaConsumer = group_consumer(
        bootstrap,
        topic,
        group,
        max_poll_records=2000,
        key_deserializer=Utf8(),
        value_deserializer=Utf8(),
    )
    return consumer


def poll_until(consumer: KafkaConsumer, n: int, timeout: float) -> list[ConsumerRecord]:
    """Poll until ``n`` records arrived or ``timeout`` passed; return them all."""
    got: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(records)
    return got


def poll_quiet(consumer: KafkaConsumer, settle: float, timeout: float = 30.0) -> list[ConsumerRecord]:
    """Poll until the group has assigned partitions, then ``settle`` seconds more; return what arrived."""
    got: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    while not consumer.assignment() and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            got.extend(records)
    assert consumer.assignment(), "the consumer never got partitions from the group coordinator"
    end = time.monotonic() + settle
    while time.monotonic() < end:
        for records in consumer.poll(timeout_ms=200).values():
            got.extend(records)
    return got


@pytest.fixture
def admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    yield client
    client.close()


def test_broker_is_the_node_the_stack_formatted(kafka_service: KafkaService, admin: KafkaAdminClient) -> None:
    info = admin.describe_cluster()
    assert info["cluster_id"] == kafka_service.cluster_id()
    assert [(b["host"], b["port"]) for b in info["brokers"]] == [("127.0.0.1", kafka_service.port)]


def test_10k_keyed_messages_round_trip_and_committed_offsets_hold(
    kafka_bootstrap: str, kafka_topic: str, unique_name: Callable[[str], str]
) -> None:
    producer = make_producer(kafka_bootstrap)
    futures = [producer.send(kafka_topic, key=f"k{i % N_KEYS}", value=str(i)) for i in range(N_MESSAGES)]
    producer.flush(timeout=60)
    metas = [f.get(timeout=10) for f in futures]
    assert len({m.partition for m in metas}) > 1  # auto-created with several partitions, keys spread

    group = unique_name("group")
    consumer = make_consumer(kafka_bootstrap, kafka_topic, group)
    got = poll_until(consumer, N_MESSAGES, timeout=90)
    consumer.commit()
    consumer.close()

    assert len(got) == N_MESSAGES
    assert sorted(int(r.value) for r in got) == list(range(N_MESSAGES))
    partitions: dict[str, set[int]] = defaultdict(set)
    values: dict[str, list[int]] = defaultdict(list)
    for r in got:
        assert r.key == f"k{int(r.value) % N_KEYS}"
        partitions[r.key].add(r.partition)
        values[r.key].append(int(r.value))
    assert all(len(p) == 1 for p in partitions.values())  # one key, one partition
    assert all(v == sorted(v) for v in values.values())  # and in order within it

    restarted = make_consumer(kafka_bootstrap, kafka_topic, group)
    try:
        assert poll_quiet(restarted, settle=2.0) == []  # committed: nothing is re-delivered
        producer.send(kafka_topic, key="after-restart", value="new").get(timeout=10)
        fresh = poll_until(restarted, 1, timeout=20)
        assert [(r.key, r.value) for r in fresh] == [("after-restart", "new")]
    finally:
        restarted.close()
        producer.close()


def test_producer_retries_survive_a_broker_stop_and_start(
    devstack: SessionStack, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic, n = unique_name("outage"), 3000
    producer = make_producer(
        kafka_bootstrap,
        retries=2_147_483_647,
        delivery_timeout_ms=120_000,
        request_timeout_ms=5_000,
        retry_backoff_ms=200,
        reconnect_backoff_max_ms=1_000,
        max_in_flight_requests_per_connection=1,
    )
    producer.send(topic, key="warm-up", value="-1").get(timeout=30)  # topic exists, metadata known
    futures = []
    acked_before = threading.Event()

    def produce() -> None:
        for i in range(n):
            futures.append(producer.send(topic, key=f"k{i % 50}", value=str(i)))
            if i == 300:
                futures[-1].get(timeout=30)
                acked_before.set()
            time.sleep(0.003)

    sender = threading.Thread(target=produce, daemon=True)
    sender.start()
    assert acked_before.wait(60)
    rec = devstack.stack.running("kafka")
    assert rec is not None
    down = devstack.stack.down_one("kafka")
    stopped_at = time.monotonic()
    try:
        assert not down.running
        st = proc_stat(rec.pid)
        assert st is None or not st.alive  # the broker process is gone, not just unreachable
        time.sleep(2.0)
    finally:
        up = devstack.stack.up_one("kafka")
    outage = time.monotonic() - stopped_at
    assert up.started and up.pid != rec.pid
    sender.join(timeout=120)
    producer.flush(timeout=120)
    for f in futures:
        f.get(timeout=1)  # raises if any message was given up on
    producer.close()

    consumer = make_consumer(kafka_bootstrap, topic, unique_name("group"))
    got = poll_until(consumer, n + 1, timeout=60)
    consumer.close()
    values = {int(r.value) for r in got}
    assert values == set(range(-1, n)), f"missing after a {outage:.1f}s outage: {sorted(set(range(n)) - values)[:20]}"
    assert outage < 60


def test_prepare_formats_storage_once_and_writes_a_loopback_kraft_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INFERWATCH_DEVSTACK_KAFKA_CONTROLLER_PORT", raising=False)  # the default: port + 1
    paths = ServicePaths(data=tmp_path / "data", logs=tmp_path / "logs", cache=CommonSettings().cache_dir)
    for d in (paths.data, paths.logs):
        d.mkdir(parents=True)
    svc = KafkaService(paths, port=29092)
    svc.install()
    svc.prepare()
    first = svc.cluster_id()
    assert first is not None and len(first) == 22
    svc.prepare()  # a second start must not re-format (that would lose every topic)
    assert svc.cluster_id() == first

    props = dict(line.split("=", 1) for line in svc.config_file.read_text().splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["auto.create.topics.enable"] == "true"
    assert props["log.dirs"] == str(tmp_path / "data" / "kraft")
    cmd = svc.command()
    assert cmd[-2:] == ["kafka.Kafka", str(svc.config_file)]
    assert "-Xmx512m" in cmd


def test_a_cluster_id_starting_with_a_dash_formats_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random ids are base64url: one in 64 starts with "-", which the storage tool once read as an option."""
    from devstack import kafka as kafka_module

    monkeypatch.setattr(kafka_module, "new_cluster_id", lambda: "-Ab3dEf6hIj9lMn2pQr5tU")
    paths = ServicePaths(data=tmp_path / "data", logs=tmp_path / "logs", cache=CommonSettings().cache_dir)
    for d in (paths.data, paths.logs):
        d.mkdir(parents=True)
    svc = KafkaService(paths, port=29094)
    svc.install()
    svc.prepare()
    assert svc.cluster_id() == "-Ab3dEf6hIj9lMn2pQr5tU"

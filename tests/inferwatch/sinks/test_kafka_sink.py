"""The Kafka sink against the real dev-stack broker: messages, keys, headers, topics, retries, failures."""

from __future__ import annotations

import hashlib
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from kafka.future import Future

from inferwatch.errors import ConfigError, SinkError
from inferwatch.protocols import headers as h
from inferwatch.records import InferenceRecord
from inferwatch.sinks import open_sink
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.failures import RecordsRejected, Refusal
from inferwatch.sinks.kafka import KafkaSink, KafkaSinkConfig, message_headers, message_value
from inferwatch.sinks.kafka_limits import MessageLimits
from tests.inferwatch.sinks.sink_records import batch, big_seldon_record, deep_record, golden
from tests.inferwatch.sinks.through_worker import deliver, dropped, metric

needs_broker = pytest.mark.kafka
CLIENTS = ("kafka-python", "confluent")  # ?client=; confluent-only cases: test_kafka_confluent_sink.py


def consume(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """Every message of ``topic`` from the beginning (stops at ``expected`` or after ``timeout``)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        partitions = consumer.partitions_for_topic(topic) or {0}
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for msgs in consumer.poll(timeout_ms=500).values():
                out.extend(msgs)
        # anything beyond ``expected`` (a duplicate) must be seen too: drain for a moment more
        for msgs in consumer.poll(timeout_ms=1000).values():
            out.extend(msgs)
        return out
    finally:
        consumer.close()


@pytest.fixture
def topic_prefix(unique_name: Callable[[str], str]) -> str:
    return unique_name("iw")


def make_sink(bootstrap: str, topic: str, **options: str) -> KafkaSink:
    query = "&".join(f"{k}={v}" for k, v in {"topic": topic, **options}.items())
    sink = open_sink(f"kafka://{bootstrap}?{query}")
    assert isinstance(sink, KafkaSink)
    return sink


@pytest.fixture
def sinks() -> Iterator[list[KafkaSink]]:
    made: list[KafkaSink] = []
    yield made
    for s in made:
        s.close()


# --- configuration, no broker needed --------------------------------------------------------------------


def test_uri_options_reach_the_producer(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here, only that it exists")
    uri = SinkURI.parse(
        "kafka://k1:9093,k2?topic=logs.{model}&compression=lz4&acks=1&linger_ms=5&batch_size=1000"
        "&client_id=me&security_protocol=SASL_SSL&sasl_mechanism=SCRAM-SHA-512&sasl_username=u"
        f"&sasl_password=p%40ss&ssl_cafile={ca}&timeout=7"
    )
    cfg = KafkaSinkConfig.from_uri(uri)
    assert cfg.bootstrap_servers == ["k1:9093", "k2:9092"]
    pc = cfg.producer_config()
    assert pc["compression_type"] == "lz4"
    assert (pc["acks"], pc["enable_idempotence"]) == (1, False)
    assert (pc["linger_ms"], pc["batch_size"], pc["client_id"]) == (5, 1000, "me")
    assert pc["security_protocol"] == "SASL_SSL"
    assert (pc["sasl_mechanism"], pc["sasl_plain_username"], pc["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "u",
        "p@ss",
    )
    assert pc["ssl_cafile"] == str(ca)
    assert pc["max_block_ms"] == pc["bootstrap_timeout_ms"] == 7000

    default = KafkaSinkConfig.from_uri(SinkURI.parse("kafka://127.0.0.1:9092")).producer_config()
    assert (default["acks"], default["enable_idempotence"], default["compression_type"]) == ("all", True, "gzip")
    assert "security_protocol" not in default


@pytest.mark.parametrize(
    "uri",
    [
        "kafka://h:1?compresion=lz4",  # typo
        "kafka://h:1?compression=brotli",
        "kafka://h:1?acks=2",
        "kafka://h:1?linger_ms=soon",
        "kafka://h:1?topic=records.{tenant}",
        "kafka://h:1?topic=records/{model}",
        "kafka://?topic=x",
        "kafka://h:1?security_protocol=SSL&ssl_cafile=/nonexistent/ca.pem",
    ],
)
def test_bad_uris_are_config_errors(uri: str) -> None:
    with pytest.raises(ConfigError):
        open_sink(uri)


def test_topic_template_sanitises_and_fills_missing_parts() -> None:
    sink = KafkaSink(KafkaSinkConfig(["127.0.0.1:1"]))
    assert sink.topic_for(golden("seldon_ndarray", namespace="prod", deployment="iris")) == (
        "inferwatch.records.prod.iris"
    )
    assert sink.topic_for(golden("seldon_ndarray", namespace=None, deployment=None)) == (
        "inferwatch.records.default.default"
    )
    # deployment falls back to the model name; characters Kafka refuses become '_'
    odd = golden("mlserver_iris_single", namespace="team a/b", deployment=None)
    assert odd.model_name == "iris"
    assert sink.topic_for(odd) == "inferwatch.records.team_a_b.iris"


def test_headers_carry_the_seldon_executor_fields() -> None:
    rec = golden("mlserver_iris_single", request_id="rid-1", namespace="ns", deployment="dep", endpoint="ep")
    got = dict(message_headers(rec))
    assert got == {
        "type": h.KAFKA_RECORD_TYPE.encode(),
        "requestid": b"rid-1",
        "modelid": b"iris",
        "inferenceservicename": b"dep",
        "namespace": b"ns",
        "endpoint": b"ep",
        "protocol": b"v2",
        "content-type": b"application/json",
    }
    bare = dict(message_headers(InferenceRecord(id="x", received_at=rec.received_at)))
    assert set(bare) == {"type", "requestid", "content-type"}


@pytest.mark.parametrize(
    "name", ["seldon_ndarray", "seldon_strdata", "seldon_bindata", "mlserver_multi_input", "seldon_wrong_shape"]
)
def test_message_value_is_exactly_the_records_json(name: str) -> None:
    rec = golden(name)
    assert message_value(rec) == orjson.dumps(rec.to_dict())
    rec.received_at = rec.received_at.replace(microsecond=0)  # to_dict still writes .000000Z
    rec.responded_at = None
    rec.flags.append("partial")
    assert message_value(rec) == orjson.dumps(rec.to_dict())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("client", CLIENTS)
def test_dead_broker_at_start_is_a_retriable_write_error(client: str) -> None:
    sink = open_sink(f"kafka://127.0.0.1:{_closed_port()}?timeout=1&client={client}")  # must not connect here
    assert not sink.health().ok
    start = time.monotonic()
    with pytest.raises(SinkError) as err:
        sink.write(batch(3))
    assert err.value.retriable
    assert time.monotonic() - start < 15
    health = sink.health()
    assert not health.ok and "cannot connect" in health.detail
    sink.close()


def test_refused_authorization_blocks_the_sink_and_names_what_to_grant() -> None:
    class Unauthorized:
        def send(self, topic: str, *, key: bytes, value: bytes, headers: Any) -> Future:
            return Future().failure(TopicAuthorizationFailedError("not allowed"))

        def flush(self, timeout: float | None = None) -> None: ...

        def close(self, timeout: float | None = None) -> None: ...

    sink = KafkaSink(KafkaSinkConfig(["127.0.0.1:1"], topic="logs"), producer_factory=lambda **_: Unauthorized())
    sink.limits = MessageLimits(lambda topic: None, 1 << 20)  # no admin lookup against a broker here
    with pytest.raises(RecordsRejected) as err:
        sink.write(batch(2))
    assert err.value.retriable and {f.refusal for f in err.value.failures} == {Refusal.BLOCKED}
    block = err.value.failures[0].block
    assert block is not None and block.reason == "auth" and "Write and Describe on topic logs" in block.remedy


# --- against the broker --------------------------------------------------------------------------------


@needs_broker
@pytest.mark.parametrize("compression", ["gzip", "lz4", "zstd", "none"])
@pytest.mark.parametrize("client", CLIENTS)
def test_happy_path_messages_keys_headers(
    kafka_bootstrap: str, topic_prefix: str, sinks: list[KafkaSink], compression: str, client: str
) -> None:
    topic = topic_prefix + ".{namespace}.{deployment}"
    sink = make_sink(kafka_bootstrap, topic, compression=compression, client=client)
    sinks.append(sink)
    records = [
        *batch(3, prefix="ndarray"),  # two instances each
        golden("mlserver_iris_single", request_id="v2-single"),
        golden("seldon_strdata", request_id="text-1"),
    ]
    assert sink.health().ok  # before the first write: the broker accepts connections
    sink.write(records)
    assert sink.health().ok

    topic = f"{topic_prefix}.prod.iris"
    msgs = consume(kafka_bootstrap, topic, len(records))
    assert sorted(m.key.decode() for m in msgs) == sorted(r.id for r in records)
    by_id = {r.id: r for r in records}
    for m in msgs:
        rec = by_id[m.key.decode()]
        assert orjson.loads(m.value) == orjson.loads(orjson.dumps(rec.to_dict()))
        assert InferenceRecord.from_dict(orjson.loads(m.value)).to_dict() == rec.to_dict()
        headers = {k: v.decode() for k, v in m.headers}
        assert headers["requestid"] == rec.id
        assert headers["type"] == h.KAFKA_RECORD_TYPE
        assert headers["content-type"] == "application/json"
        assert (headers["namespace"], headers["inferenceservicename"], headers["endpoint"]) == (
            "prod",
            "iris",
            "default",
        )
        assert headers["protocol"] == rec.protocol


@needs_broker
def test_retry_after_partial_failure_sends_only_what_was_not_acknowledged(
    kafka_bootstrap: str, topic_prefix: str, sinks: list[KafkaSink]
) -> None:
    fail_ids = {"req-00003", "req-00007", "req-00011"}
    injected: list[str] = []

    def producer_factory(**config: Any) -> KafkaProducer:
        producer = KafkaProducer(**config)
        real_send = producer.send

        def send(topic: str, *, key: bytes, **kw: Any) -> Any:
            if key.decode() in fail_ids and key.decode() not in injected:
                injected.append(key.decode())  # fail each once, as a lost connection would
                return Future().failure(KafkaConnectionError("injected: connection lost"))
            return real_send(topic, key=key, **kw)

        producer.send = send
        return producer

    uri = SinkURI.parse(f"kafka://{kafka_bootstrap}?topic={topic_prefix}")
    sink = KafkaSink(KafkaSinkConfig.from_uri(uri), producer_factory=producer_factory)
    sinks.append(sink)
    records = batch(20)
    with pytest.raises(SinkError) as err:
        sink.write(records)
    assert err.value.retriable and err.value.details["failed"] == 3
    assert not sink.health().ok

    sink.write(records)  # what the delivery worker does next: the same batch again
    assert sink.health().ok
    msgs = consume(kafka_bootstrap, topic_prefix, len(records))
    keys = [m.key.decode() for m in msgs]
    assert len(keys) == len(records)
    assert set(keys) == {r.id for r in records}
    assert sorted(injected) == sorted(fail_ids)


@needs_broker
@pytest.mark.parametrize("client", CLIENTS)
def test_replay_is_at_least_once_and_keyed_by_request_id(
    kafka_bootstrap: str, topic_prefix: str, sinks: list[KafkaSink], client: str
) -> None:
    records = batch(10)
    for _ in range(2):  # a process restart replaying its spool: a new producer, the same records
        sink = make_sink(kafka_bootstrap, topic_prefix, client=client)
        sinks.append(sink)
        sink.write(records)
        sink.close()
    msgs = consume(kafka_bootstrap, topic_prefix, 2 * len(records))
    copies = Counter(m.key.decode() for m in msgs)
    # Kafka keeps both copies; de-duplicating by key (as the indexing consumer does) gives the batch exactly
    assert set(copies) == {r.id for r in records}
    assert set(copies.values()) == {2}
    latest = {m.key.decode(): orjson.loads(m.value) for m in msgs}
    assert latest == {r.id: orjson.loads(orjson.dumps(r.to_dict())) for r in records}


@needs_broker
@pytest.mark.parametrize("client", CLIENTS)
def test_unserialisable_record_is_sent_reduced_beside_its_batch(
    kafka_bootstrap: str, topic_prefix: str, client: str
) -> None:
    records = [*batch(10, prefix="a"), deep_record("deep"), *batch(10, prefix="b")]
    reg = deliver(make_sink(kafka_bootstrap, topic_prefix, client=client), records)
    msgs = consume(kafka_bootstrap, topic_prefix, len(records))
    values = {m.key.decode(): orjson.loads(m.value) for m in msgs}
    assert len(msgs) == len(records) and set(values) == {r.id for r in records}
    deep = values["deep"]
    assert deep["flags"] == ["reduced"] and deep["instances"] == []
    assert deep["request"]["decoded"] is None and deep["request"]["raw"] == records[10].request.raw  # type: ignore[union-attr]
    for r in records[:10]:
        assert values[r.id] == orjson.loads(message_value(r))
    assert dropped(reg) == 0
    assert metric(reg, "inferwatch_sink_records_written_total", sink="kafka") == len(records)


def create_topic(bootstrap: str, topic: str, max_message_bytes: int) -> None:
    """A one-partition topic whose ``max.message.bytes`` is ``max_message_bytes``, returned once the broker
    describes it (creation is acknowledged before the topic's metadata is visible to every request)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": str(max_message_bytes)})])
        deadline = time.monotonic() + 30
        while topic not in {
            t.get("name", t.get("topic")) for t in admin.describe_topics([topic]) if not t.get("error_code")
        }:
            assert time.monotonic() < deadline, f"topic {topic} not visible 30 s after its creation"
            time.sleep(0.1)
    finally:
        admin.close()


@needs_broker
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("topic_limit", "form"), [(1_048_588, ["reduced"]), (64 * 1024, ["reduced", "shed"])])
def test_a_big_record_is_shed_to_fit_the_topic_and_spares_its_batch(
    kafka_bootstrap: str, topic_prefix: str, client: str, topic_limit: int, form: list[str]
) -> None:
    create_topic(kafka_bootstrap, topic_prefix, topic_limit)
    big = big_seldon_record("big")  # 360 KB request, 57 KB response: a 1.4 MB record
    assert len(message_value(big)) > 1024 * 1024
    records = [*batch(20, prefix="a"), big, *batch(19, prefix="b")]
    sink = make_sink(kafka_bootstrap, topic_prefix, client=client)
    assert sink.message_limit(topic_prefix) == min(topic_limit, KafkaSinkConfig.max_request_size)
    reg = deliver(sink, records)

    msgs = consume(kafka_bootstrap, topic_prefix, len(records))
    assert len(msgs) == len(records) and {m.key.decode() for m in msgs} == {r.id for r in records}
    for m in msgs:
        if m.key != b"big":
            assert m.value == message_value(next(r for r in records if r.id == m.key.decode()))
    sent = next(m for m in msgs if m.key == b"big")
    assert len(sent.value) <= topic_limit
    value = orjson.loads(sent.value)
    assert value["flags"] == form and value["instances"] == [] and value["feature_names"] is None
    for side in ("request", "response"):
        want = getattr(big, side)
        got = value[side]
        assert got["decoded"] is None and got["size"] == want.size
        assert got["sha256"] == hashlib.sha256(want.raw.encode()).hexdigest()
        assert got["raw"] == ("" if "shed" in form else want.raw)
    assert dropped(reg) == 0
    assert metric(reg, "inferwatch_sink_records_written_total", sink="kafka") == len(records)
    assert metric(reg, "inferwatch_records_reduced_total", sink="kafka", reason="too_large") == 1


@needs_broker
@pytest.mark.parametrize("client", CLIENTS)
def test_a_record_too_large_even_shed_is_dropped_alone_and_counted(
    kafka_bootstrap: str, topic_prefix: str, client: str, caplog: pytest.LogCaptureFixture
) -> None:
    t0 = golden("seldon_ndarray").received_at
    small = [InferenceRecord(id=f"small-{i}", received_at=t0) for i in range(5)]
    huge = InferenceRecord(id="huge-error", received_at=t0, error="x" * 4000)  # nothing to shed: it stays too big
    reg = deliver(make_sink(kafka_bootstrap, topic_prefix, max_request_size="2048", client=client), [*small, huge])
    msgs = consume(kafka_bootstrap, topic_prefix, len(small))
    assert sorted(m.key.decode() for m in msgs) == [r.id for r in small]
    assert metric(reg, "inferwatch_records_dropped_total", sink="kafka", reason="unwritable") == 1
    assert dropped(reg) == 1
    assert "huge-error" in caplog.text

"""The Kafka sink with ``client=confluent`` (librdkafka): settings, errors, and against the real broker the
same messages as kafka-python's, retries without loss, and refusals that are not retried."""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError as RdKafkaError
from kafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
)

from inferwatch.errors import ConfigError, SinkError
from inferwatch.sinks import open_sink
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.failures import RecordsRejected, Refusal, SinkBlocked
from inferwatch.sinks.kafka import KafkaSink, KafkaSinkConfig
from inferwatch.sinks.kafka_confluent import (
    ConfluentDeliveryError,
    ConfluentProducer,
    DeliveryFuture,
    as_kafka_error,
    librdkafka_config,
)
from tests.inferwatch.sinks.sink_records import batch, golden
from tests.inferwatch.sinks.test_kafka_sink import consume


@pytest.fixture
def prefix(unique_name: Callable[[str], str]) -> str:
    return unique_name("iwc")


@pytest.fixture
def opened() -> Iterator[list[KafkaSink]]:
    made: list[KafkaSink] = []
    yield made
    for s in made:
        s.close()


def sink_for(bootstrap: str, topic: str, opened: list[KafkaSink], **options: str) -> KafkaSink:
    query = "&".join(f"{k}={v}" for k, v in {"topic": topic, **options}.items())
    sink = open_sink(f"kafka://{bootstrap}?{query}")
    assert isinstance(sink, KafkaSink)
    opened.append(sink)
    return sink


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- settings and error mapping, no broker needed ------------------------------------------------------


def test_uri_options_map_to_librdkafka_names(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "c.pem", "k.pem"))
    for f in (ca, cert, key):
        f.write_text("exists")
    uri = SinkURI.parse(
        "kafka://k1:9093,k2?client=confluent&compression=zstd&linger_ms=5&batch_size=1000&client_id=me"
        "&security_protocol=SASL_SSL&sasl_mechanism=SCRAM-SHA-512&sasl_username=u&sasl_password=p%40ss"
        f"&ssl_cafile={ca}&ssl_certfile={cert}&ssl_keyfile={key}&timeout=7&max_request_size=2048"
    )
    cfg = KafkaSinkConfig.from_uri(uri)
    assert cfg.client == "confluent"
    conf = librdkafka_config(cfg.producer_config())
    assert conf.pop("logger") is logging.getLogger("inferwatch.sinks.kafka_confluent")
    assert conf == {
        "bootstrap.servers": "k1:9093,k2:9092",
        "client.id": "me",
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "zstd",
        "linger.ms": 5,
        "batch.size": 1000,
        "message.max.bytes": 2048,
        "request.timeout.ms": 7000,
        "message.timeout.ms": 7005,  # request timeout + linger
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "u",
        "sasl.password": "p@ss",
        "ssl.ca.location": str(ca),
        "ssl.certificate.location": str(cert),
        "ssl.key.location": str(key),
    }
    plain = librdkafka_config(KafkaSinkConfig(["h:1"], acks=1, compression="none").producer_config())
    assert (plain["acks"], plain["enable.idempotence"], plain["compression.type"]) == ("1", False, "none")
    assert KafkaSinkConfig.from_uri(SinkURI.parse("kafka://h:1")).client == "kafka-python"


def test_unknown_client_and_missing_package_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="client"):
        open_sink("kafka://h:1?client=librdkafka")
    monkeypatch.delitem(sys.modules, "inferwatch.sinks.kafka_confluent")
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # as if it were not installed
    with pytest.raises(ConfigError) as err:
        open_sink("kafka://h:1?client=confluent")
    assert "pip install 'inferwatch[kafka-fast]'" in str(err.value)


def test_bad_librdkafka_settings_block_the_sink_until_corrected() -> None:
    cfg = KafkaSinkConfig(["127.0.0.1:1"], security={"security_protocol": "CARRIER_PIGEON"}, client="confluent")
    with pytest.raises(SinkBlocked) as err:
        KafkaSink(cfg).write(batch(1))
    assert err.value.block.reason == "settings" and "security_protocol" in err.value.block.remedy


@pytest.mark.parametrize(
    ("code", "kind", "retriable"),
    [
        (RdKafkaError.MSG_SIZE_TOO_LARGE, MessageSizeTooLargeError, False),
        (RdKafkaError._MSG_TIMED_OUT, KafkaTimeoutError, True),
        (RdKafkaError._ALL_BROKERS_DOWN, ConfluentDeliveryError, True),
        (RdKafkaError._TRANSPORT, ConfluentDeliveryError, True),
        (RdKafkaError._QUEUE_FULL, ConfluentDeliveryError, True),
        (RdKafkaError.NOT_ENOUGH_REPLICAS, ConfluentDeliveryError, True),
        (RdKafkaError.TOPIC_AUTHORIZATION_FAILED, TopicAuthorizationFailedError, False),
        (RdKafkaError.SASL_AUTHENTICATION_FAILED, SaslAuthenticationFailedError, False),
        (RdKafkaError.INVALID_RECORD, ConfluentDeliveryError, False),
    ],
)
def test_librdkafka_errors_keep_their_retry_class(code: int, kind: type, retriable: bool) -> None:
    e = as_kafka_error(RdKafkaError(code))
    assert type(e) is kind
    assert (bool(getattr(e, "retriable", False)) or isinstance(e, KafkaTimeoutError)) == retriable


# --- against the broker --------------------------------------------------------------------------------


@pytest.mark.kafka
@pytest.mark.parametrize("compression", ["gzip", "lz4", "zstd", "none"])  # kafka-python reads no snappy
def test_messages_are_identical_to_kafka_pythons(
    kafka_bootstrap: str, prefix: str, opened: list[KafkaSink], compression: str
) -> None:
    records = [*batch(3, prefix="nd"), golden("mlserver_iris_single", request_id="v2"), golden("seldon_strdata")]
    fast = sink_for(kafka_bootstrap, prefix + ".c.{deployment}", opened, client="confluent", compression=compression)
    assert fast.health().ok
    fast.write(records)
    assert fast.health().ok
    sink_for(kafka_bootstrap, prefix + ".k.{deployment}", opened).write(records)

    def messages(topic: str) -> dict[str, tuple[bytes, list[tuple[str, bytes]]]]:
        got = consume(kafka_bootstrap, topic, len(records))
        assert len(got) == len(records)
        return {m.key.decode(): (m.value, list(m.headers)) for m in got}

    ours, reference = messages(f"{prefix}.c.iris"), messages(f"{prefix}.k.iris")
    assert set(ours) == {r.id for r in records}
    assert ours == reference
    by_id = {r.id: r for r in records}
    assert all(orjson.loads(v) == orjson.loads(by_id[k].to_json()) for k, (v, _) in ours.items())


class FlakyProducer(ConfluentProducer):
    """Fails each id of ``FAIL`` once, as a lost connection would."""

    FAIL = frozenset({"req-00002", "req-00009", "req-00015"})

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.injected: list[str] = []

    def send(self, topic: str, *, key: bytes, **kw: Any) -> DeliveryFuture:
        rid = key.decode()
        if rid in self.FAIL and rid not in self.injected:
            self.injected.append(rid)
            return DeliveryFuture().failure(KafkaConnectionError("injected: connection lost"))
        return super().send(topic, key=key, **kw)


@pytest.mark.kafka
def test_retried_batch_is_not_lost_nor_duplicated(kafka_bootstrap: str, prefix: str, opened: list[KafkaSink]) -> None:
    made: list[FlakyProducer] = []

    def factory(**settings: Any) -> FlakyProducer:
        made.append(FlakyProducer(**settings))
        return made[-1]

    cfg = KafkaSinkConfig.from_uri(SinkURI.parse(f"kafka://{kafka_bootstrap}?topic={prefix}&client=confluent"))
    sink = KafkaSink(cfg, producer_factory=factory)
    opened.append(sink)
    records = batch(20)
    with pytest.raises(SinkError) as err:
        sink.write(records)
    assert err.value.retriable and err.value.details["failed"] == 3
    assert not sink.health().ok
    sink.write(records)  # the delivery worker retries the same batch
    assert sink.health().ok
    keys = [m.key.decode() for m in consume(kafka_bootstrap, prefix, len(records))]
    assert sorted(keys) == sorted(r.id for r in records)
    assert len(made) == 1 and sorted(made[0].injected) == sorted(FlakyProducer.FAIL)


@pytest.mark.kafka
def test_oversized_record_is_rejected_alone_without_retry(
    kafka_bootstrap: str, prefix: str, opened: list[KafkaSink]
) -> None:
    sink = sink_for(kafka_bootstrap, prefix, opened, client="confluent", max_request_size="2560")
    big, small = golden("seldon_ndarray", request_id="big"), golden("seldon_strdata", request_id="small")
    assert len(big.to_json()) > 2560 > len(small.to_json()) + 512
    with pytest.raises(RecordsRejected) as err:
        sink.write([big, small])
    assert not err.value.retriable and err.value.details["failed"] == 1
    assert [(f.position, f.refusal, f.reason) for f in err.value.failures] == [(0, Refusal.RECORD, "too_large")]
    assert sink.health().ok, "a record too large says nothing about the broker"
    assert [m.key for m in consume(kafka_bootstrap, prefix, 1)] == [b"small"]


@pytest.mark.kafka
@pytest.mark.slow
def test_broker_restart_is_retriable_and_the_retried_batch_arrives(
    kafka_bootstrap: str, prefix: str, opened: list[KafkaSink], devstack: Any
) -> None:
    sink = sink_for(kafka_bootstrap, prefix, opened, client="confluent", timeout="3")
    first, second = batch(5, prefix="before"), batch(5, prefix="during")
    sink.write(first)
    devstack.stack.down_one("kafka")
    try:
        with pytest.raises(SinkError) as err:
            sink.write(second)
        assert err.value.retriable
        assert not sink.health().ok
    finally:
        devstack.stack.up_one("kafka")
    deadline, attempts = time.monotonic() + 90, 0
    while True:  # what the delivery worker does: the same batch again until it is acknowledged
        attempts += 1
        try:
            sink.write(second)
            break
        except SinkError as e:
            assert e.retriable, e
            assert time.monotonic() < deadline, f"not delivered after {attempts} attempts: {e}"
            time.sleep(1)
    assert sink.health().ok
    keys = {m.key.decode() for m in consume(kafka_bootstrap, prefix, len(first) + len(second))}
    assert keys == {r.id for r in first + second}

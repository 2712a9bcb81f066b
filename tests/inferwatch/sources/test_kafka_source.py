"""``group_consumer`` against the dev-stack broker: partitions are assigned on the first polls."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from kafka import KafkaProducer

from inferwatch.sources.kafka import group_consumer

pytestmark = pytest.mark.kafka


def _assigned_within(consumer: Any, seconds: float) -> set[Any]:
    deadline = time.monotonic() + seconds
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(timeout_ms=200)
    return set(consumer.assignment())


def test_existing_topic_gets_every_partition(kafka_bootstrap: str, unique_name: Any) -> None:
    topic = unique_name("existing")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic, b"x").get(30)
    producer.close()
    for _ in range(2):  # a second member of a fresh group, right after the first left, as on a restart
        consumer = group_consumer(kafka_bootstrap, topic, unique_name("group"))
        try:
            assigned = _assigned_within(consumer, 30)
            assert assigned and {tp.topic for tp in assigned} == {topic}
            assert {tp.partition for tp in assigned} == consumer.partitions_for_topic(topic)
        finally:
            consumer.close()


def test_missing_topic_is_logged_and_subscribed_anyway(
    kafka_bootstrap: str, unique_name: Any, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique_name("missing")
    with caplog.at_level(logging.WARNING, logger="inferwatch.sources.kafka"):
        consumer = group_consumer(kafka_bootstrap, topic, unique_name("group"), wait_for_topic=0.5)
    try:
        assert consumer.subscription() == {topic}
        assert any(topic in r.getMessage() and "does not exist yet" in r.getMessage() for r in caplog.records)
    finally:
        consumer.close()

"""``consume index`` against the real broker: the logger's records, Seldon v1 halves on different partitions in
any order (paired; request-only → partial after the TTL) and poison messages, into the embedded store; offsets
committed only once written, never past a waiting half; poison in the dead-letter topic with its reason."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inferwatch.consumers import deadletters
from inferwatch.consumers.service import IndexService
from inferwatch.consumers.settings import IndexSettings
from inferwatch.records import Flag
from inferwatch.stores import RecordQuery, open_store
from tests.consumers.kafka_data import (
    committed,
    create_topic,
    end_offsets,
    logger_records,
    produce,
    read_all,
    seldon_v1_half,
    write_logger_records,
)

pytestmark = pytest.mark.kafka


def _wait(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _count(store_uri: str) -> int:
    store = open_store(store_uri, missing_ok=True)
    try:
        return len(store.query(RecordQuery(limit=100_000)))
    finally:
        store.close()


def test_records_halves_and_poison_are_indexed_or_dead_lettered(
    tmp_path: Path, kafka_bootstrap: str, unique_name: Any
) -> None:
    topic, dlq, group = unique_name("mixed"), unique_name("dlq"), unique_name("indexers")
    create_topic(kafka_bootstrap, topic, 3)
    write_logger_records(kafka_bootstrap, topic, logger_records(50))
    rng = random.Random(7)
    halves = []
    for i in range(20):  # paired halves, each on a partition of its own choosing, in shuffled order
        for kind in ("request", "response"):
            headers, value = seldon_v1_half(kind, f"sv1-{i}")
            halves.append((headers, value, rng.randrange(3)))
    for i in range(5):  # request-only logging: written partial after the TTL
        headers, value = seldon_v1_half("request", f"lonely-{i}")
        halves.append((headers, value, rng.randrange(3)))
    rng.shuffle(halves)
    no_id_headers, no_id_value = seldon_v1_half("request", "")
    poison = [
        ([("type", b"io.inferwatch.inference.record")], b"{not json", 0),
        ([(k, v) for k, v in no_id_headers if k != "requestid"], no_id_value, 1),
        ([], b"\x00\x01binary garbage", 2),
    ]
    produce(kafka_bootstrap, topic, halves[:20] + poison + halves[20:])

    store = f"sqlite:///{tmp_path / 'index.db'}"
    settings = IndexSettings(
        bootstrap=kafka_bootstrap, topic=topic, group=group, sink=[store], dlq_topic=dlq, pairing_ttl=2.0
    )
    service = IndexService(settings).start()
    try:
        _wait("75 records in the store", lambda: _count(store) >= 75)
        ends = end_offsets(kafka_bootstrap, topic)
        _wait("every offset committed", lambda: committed(kafka_bootstrap, topic, group) == ends)
        lag = {
            s.labels["partition"]: s.value
            for m in service.registry.collect()
            if m.name == "inferwatch_consumer_lag"
            for s in m.samples
        }
        assert lag == {"0": 0, "1": 0, "2": 0}
    finally:
        service.stop()

    db = open_store(store)
    try:
        records = {r.id: r for r in db.query(RecordQuery(limit=1000))}
    finally:
        db.close()
    assert len(records) == 75
    assert all(f"rec-{i}" in records for i in range(50))
    for i in range(20):
        r = records[f"sv1-{i}"]
        assert r.request is not None and r.response is not None and not r.has(Flag.PARTIAL), r.id
        assert (r.model_name, r.deployment, r.namespace, r.protocol, r.source) == (
            "classifier",
            "iris",
            "seldon",
            "seldon",
            "kafka",
        )
        assert len(r.instances) == 2 and r.instances[0]["request"]
    for i in range(5):
        r = records[f"lonely-{i}"]
        assert r.has(Flag.PARTIAL) and r.response is None and r.request is not None

    letters = read_all(kafka_bootstrap, dlq, 3)
    assert len(letters) == 3
    reasons = {dict(m.headers)[deadletters.REASON].decode(): m for m in letters}
    assert set(reasons) == {"not_json", "no_request_id", "unknown_format"}
    garbage = reasons["unknown_format"]
    assert garbage.value == b"\x00\x01binary garbage"  # the original value, unchanged
    where = dict(garbage.headers)
    assert where[deadletters.TOPIC].decode() == topic and where[deadletters.PARTITION] == b"2"
    assert int(where[deadletters.OFFSET]) >= 0
    assert dict(reasons["not_json"].headers)["type"] == b"io.inferwatch.inference.record"  # original headers kept


def test_a_waiting_half_holds_back_its_partitions_commit(
    tmp_path: Path, kafka_bootstrap: str, unique_name: Any
) -> None:
    topic, group = unique_name("held"), unique_name("indexers")
    create_topic(kafka_bootstrap, topic, 2)
    req_headers, req_value = seldon_v1_half("request", "held-1")
    produce(kafka_bootstrap, topic, [(req_headers, req_value, 0)])
    write_logger_records(kafka_bootstrap, topic, logger_records(5))
    store = f"sqlite:///{tmp_path / 'held.db'}"
    settings = IndexSettings(bootstrap=kafka_bootstrap, topic=topic, group=group, sink=[store], pairing_ttl=3600)
    service = IndexService(settings).start()
    try:
        _wait("the logger's 5 records", lambda: _count(store) >= 5)
        time.sleep(1.5)
        offsets = committed(kafka_bootstrap, topic, group)
        assert offsets[0] in (None, 0), "partition 0 holds the request half: not committed past it"
        resp_headers, resp_value = seldon_v1_half("response", "held-1")
        produce(kafka_bootstrap, topic, [(resp_headers, resp_value, 1)])
        _wait("the paired record", lambda: _count(store) >= 6)
        ends = end_offsets(kafka_bootstrap, topic)
        _wait("both partitions committed to the end", lambda: committed(kafka_bootstrap, topic, group) == ends)
    finally:
        service.stop()

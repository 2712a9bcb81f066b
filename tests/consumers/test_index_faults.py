"""``inferwatch consume index`` under the faults a platform team sees, with real processes on the real dev-stack
Kafka and Elasticsearch: a group member SIGKILLed mid-stream and replaced; Elasticsearch down for 60 s while
records keep arriving; a member stopped (a rolling restart) while Elasticsearch is down. Each time every request id
ends up in the index exactly once (count and set of ``_id``), every partition is committed to its end and the
members' ``inferwatch_consumer_lag`` sums to 0."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from inferwatch.records import InferenceRecord
from tests.consumers.kafka_data import (
    committed,
    create_topic,
    end_offsets,
    group_members,
    logger_records,
    write_logger_records,
)
from tests.consumers.processes import IndexerProcess
from tests.search_index import index_ids

pytestmark = [pytest.mark.kafka, pytest.mark.elasticsearch, pytest.mark.slow]

OUTAGE = 60.0
SHORT_OUTAGE = 15.0
"""How long the survivor holds the leaver's partitions while the sink still fails (three keepalive polls)."""
FAST = ("--batch", "1000")
"""Polls and bulk requests of 1000 (``chunk_size=1000`` on the sink): the 2-core CI machine indexes ~1500/s."""


@pytest.fixture
def es(elasticsearch_url: str) -> Iterator[Any]:
    from elasticsearch import Elasticsearch

    client = Elasticsearch(elasticsearch_url, request_timeout=60)
    yield client
    client.close()


@pytest.fixture
def members() -> Iterator[list[IndexerProcess]]:
    """The indexers a test starts; every one still running is stopped at the end (SIGKILL if SIGTERM hangs)."""
    started: list[IndexerProcess] = []
    yield started
    for member in started:
        try:
            member.end(timeout=30)
        except Exception:
            member.end(signal.SIGKILL)


def _wait(what: str, check: Callable[[], bool], timeout: float, why: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {why()}")
        time.sleep(0.5)


def _count(es: Any, index: str) -> int:
    """Documents in ``index`` now (0 before it exists)."""
    if not es.indices.exists(index=index):
        return 0
    es.indices.refresh(index=index)
    return int(es.count(index=index)["count"])


def _group_lag(bootstrap: str, topic: str, group: str) -> dict[int, int | None]:
    """Per partition, end offset minus the group's committed offset (``None``: nothing committed)."""
    done = committed(bootstrap, topic, group)
    return {
        p: None if done.get(p) is None else end - int(done[p] or 0) for p, end in end_offsets(bootstrap, topic).items()
    }


def _reported_lag(members: list[IndexerProcess]) -> dict[int, list[float]]:
    """Per partition, the ``inferwatch_consumer_lag`` every member reports for it."""
    out: dict[int, list[float]] = {}
    for member in members:
        for partition, lag in member.lag().items():
            out.setdefault(partition, []).append(lag)
    return out


def _caught_up(bootstrap: str, topic: str, group: str, members: list[IndexerProcess]) -> bool:
    """Every partition committed to its end, and reported at lag 0 by exactly one member. (A commit follows the
    sink's acknowledgement: from here on, what is not in the index is lost.)"""
    partitions = set(end_offsets(bootstrap, topic))
    return set(_group_lag(bootstrap, topic, group).values()) == {0} and _reported_lag(members) == {
        p: [0.0] for p in partitions
    }


def _state(es: Any, index: str, bootstrap: str, topic: str, group: str, members: list[IndexerProcess]) -> str:
    logs = "\n".join(f"--- {m.log_path.name} (tail)\n{m.output()[-3000:]}" for m in members)
    return (
        f"docs={_count(es, index)} committed lag={_group_lag(bootstrap, topic, group)} "
        f"reported lag={_reported_lag(members)}\n{logs}"
    )


def _assert_indexed_once(es: Any, index: str, records: list[InferenceRecord]) -> None:
    """The index holds one document per record, under the record's request id (one instance each: no ``-item-``)."""
    ids = index_ids(es, index)
    expected = {r.id for r in records}
    assert len(ids) == len(records), f"{len(ids)} documents for {len(records)} records"
    assert set(ids) == expected, f"missing {len(expected - set(ids))}, unexpected {sorted(set(ids) - expected)[:5]}"


def test_a_member_killed_mid_stream_is_replaced_and_every_record_is_indexed_once(
    tmp_path: Path, kafka_bootstrap: str, elasticsearch_url: str, es: Any, unique_name: Any, members: list[Any]
) -> None:
    topic, group, index = unique_name("faults"), unique_name("indexers"), unique_name("inference-log-kill")
    create_topic(kafka_bootstrap, topic, 6)
    records = logger_records(30_000, prefix="kill")
    sink = f"elasticsearch://{elasticsearch_url.removeprefix('http://')}?index={index}&chunk_size=1000"

    def member() -> IndexerProcess:
        started = IndexerProcess(tmp_path, kafka_bootstrap, topic, group, [sink], *FAST)
        members.append(started)
        return started

    first = [member() for _ in range(3)]

    def balanced() -> bool:
        return [m.metric("inferwatch_consumer_assigned_partitions") for m in first] == [2.0, 2.0, 2.0]

    _wait("two partitions for each of the three members", balanced, 90, lambda: "\n".join(m.output() for m in first))
    write_logger_records(kafka_bootstrap, topic, records)  # the stream arrives while the group consumes it

    def state() -> str:
        return _state(es, index, kafka_bootstrap, topic, group, members)

    _wait("5,000 documents", lambda: _count(es, index) >= 5_000, 120, state)
    survivor = first[1]
    rebalances = survivor.metric("inferwatch_consumer_rebalances_total", kind="assigned")
    victim = first[0]
    assert victim.metric("inferwatch_consumer_assigned_partitions") == 2
    assert victim.end(signal.SIGKILL) == -signal.SIGKILL
    members.remove(victim)
    assert _count(es, index) < len(records), "the member was killed mid-stream, not after the end"
    member()

    _wait(
        "every partition committed to its end and lag 0",
        lambda: _caught_up(kafka_bootstrap, topic, group, members),
        180,
        state,
    )
    _assert_indexed_once(es, index, records)
    assert survivor.get("/health/ready").status_code == 200
    assert survivor.metric("inferwatch_consumer_rebalances_total", kind="assigned") > rebalances
    for m in members:
        assert m.proc.poll() is None, m.output()
        assert m.metric("inferwatch_consumer_dead_lettered_total") == 0, m.output()


def test_elasticsearch_down_60s_mid_stream_the_member_waits_in_its_group_and_loses_nothing(
    tmp_path: Path,
    kafka_bootstrap: str,
    elasticsearch_url: str,
    es: Any,
    unique_name: Any,
    devstack: Any,
    members: list[Any],
) -> None:
    topic, group, index = unique_name("faults"), unique_name("indexers"), unique_name("inference-log-es-down")
    create_topic(kafka_bootstrap, topic, 3)
    before, during = logger_records(10_000, prefix="before"), logger_records(10_000, prefix="during")
    write_logger_records(kafka_bootstrap, topic, before)
    sink = f"elasticsearch://{elasticsearch_url.removeprefix('http://')}?index={index}&chunk_size=1000"
    indexer = IndexerProcess(tmp_path, kafka_bootstrap, topic, group, [sink], *FAST, "--retry-max-seconds", "5")
    members.append(indexer)

    def state() -> str:
        return _state(es, index, kafka_bootstrap, topic, group, members)

    _wait("3,000 documents", lambda: _count(es, index) >= 3_000, 120, state)
    in_group = group_members(kafka_bootstrap, group)
    assert len(in_group) == 1
    rebalances = indexer.metric("inferwatch_consumer_rebalances_total")

    devstack.stack.down_one("elasticsearch")
    try:
        writer = threading.Thread(target=write_logger_records, args=(kafka_bootstrap, topic, during))
        writer.start()
        live: list[int] = []
        frozen: list[dict[int, int | None]] = []
        ends = time.monotonic() + OUTAGE
        while time.monotonic() < ends:
            live.append(indexer.get("/health/live").status_code)
            if len(live) in (10, 50):  # nothing is committed while the sink fails
                frozen.append(committed(kafka_bootstrap, topic, group))
            time.sleep(1.0)
        writer.join(60)
        outage_lag = sum(indexer.lag().values())  # what the lag alert sees meanwhile
        assert group_members(kafka_bootstrap, group) == in_group, "the member stayed in its group"
    finally:
        devstack.stack.up_one("elasticsearch")

    assert live and set(live) == {200}, f"/health/live during the outage: {live}"
    assert len(frozen) == 2 and frozen[0] == frozen[1], f"committed during the outage: {frozen}"
    assert sum(v or 0 for v in frozen[1].values()) <= len(before), "nothing produced during the outage committed"
    assert outage_lag >= len(during), f"the lag reported during the outage ({outage_lag}) shows what piled up"
    _wait(
        "every partition committed to its end and lag 0",
        lambda: _caught_up(kafka_bootstrap, topic, group, members),
        120,
        state,
    )
    _assert_indexed_once(es, index, before + during)
    assert indexer.metric("inferwatch_consumer_write_retries_total", sink="elasticsearch") > 0
    assert indexer.metric("inferwatch_consumer_rebalances_total") == rebalances, "no rebalance: never left the group"
    assert group_members(kafka_bootstrap, group) == in_group
    assert indexer.proc.poll() is None and indexer.get("/health/ready").status_code == 200
    assert indexer.metric("inferwatch_consumer_dead_lettered_total") == 0, indexer.output()


def test_a_member_stopped_while_elasticsearch_is_down_hands_over_its_partitions_and_nothing_is_lost(
    tmp_path: Path,
    kafka_bootstrap: str,
    elasticsearch_url: str,
    es: Any,
    unique_name: Any,
    devstack: Any,
    members: list[Any],
) -> None:
    """A rolling restart during a sink outage: the stopped member's unwritten batch is not committed (its
    partitions' new owner reads it again), and the stop is clean (exit status 0)."""
    topic, group, index = unique_name("faults"), unique_name("indexers"), unique_name("inference-log-handover")
    create_topic(kafka_bootstrap, topic, 6)
    before, during = logger_records(6_000, prefix="early"), logger_records(6_000, prefix="late")
    sink = f"elasticsearch://{elasticsearch_url.removeprefix('http://')}?index={index}&chunk_size=1000"
    for _ in range(2):
        members.append(
            IndexerProcess(tmp_path, kafka_bootstrap, topic, group, [sink], *FAST, "--retry-max-seconds", "5")
        )
    staying, leaving = members

    def state() -> str:
        return _state(es, index, kafka_bootstrap, topic, group, members)

    def balanced() -> bool:
        return [m.metric("inferwatch_consumer_assigned_partitions") for m in members] == [3.0, 3.0]

    _wait("three partitions each", balanced, 90, state)
    write_logger_records(kafka_bootstrap, topic, before)
    _wait("1,000 documents", lambda: _count(es, index) >= 1_000, 60, state)

    devstack.stack.down_one("elasticsearch")
    try:
        write_logger_records(kafka_bootstrap, topic, during)
        _wait(
            "both members retrying",
            lambda: all(m.metric("inferwatch_consumer_write_retries_total") for m in members),
            30,
        )
        held = committed(kafka_bootstrap, topic, group)
        assert leaving.end() == 0, leaving.output()  # SIGTERM mid-retry is a clean stop, not a crash
        members.remove(leaving)
        _wait("the partitions handed over", lambda: staying.metric("inferwatch_consumer_assigned_partitions") == 6, 30)
        time.sleep(SHORT_OUTAGE)  # the survivor's keepalive polls now hold all six partitions
        assert committed(kafka_bootstrap, topic, group) == held, "records no sink has were committed"
        assert staying.get("/health/live").status_code == 200
    finally:
        devstack.stack.up_one("elasticsearch")

    _wait(
        "every partition committed to its end and lag 0",
        lambda: _caught_up(kafka_bootstrap, topic, group, members),
        90,
        state,
    )
    _assert_indexed_once(es, index, before + during)

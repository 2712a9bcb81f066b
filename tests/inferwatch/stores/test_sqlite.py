"""The embedded store read back: what the SQLite sink wrote, found by the filters of an audit and by request id."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inferwatch.records import InferenceRecord
from inferwatch.results import ResultRecord, per_request
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores import RecordQuery, StoreError
from inferwatch.stores.sqlite import SQLiteStore
from tests.inferwatch.sinks.sink_records import golden

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _rec(i: int, model: str = "iris", flags: list[str] | None = None) -> InferenceRecord:
    return InferenceRecord(id=f"id-{i}", received_at=T0 + timedelta(seconds=i), model_name=model, flags=flags or [])


def _outlier(rid: str, flags: list[int]) -> list[ResultRecord]:
    body = {"data": {"is_outlier": flags, "instance_score": [0.5 + f for f in flags]}, "meta": {"name": "IForest"}}
    return per_request("outlier", body, rid, len(flags), created_at=T0, source="iris-od")


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    sink = SQLiteSink(tmp_path / "iw.db")
    sink.write([_rec(i) for i in range(10)] + [_rec(100, "wine", ["partial"])])
    sink.close()
    return SQLiteStore(tmp_path / "iw.db")


def test_query_filters_newest_first(store: SQLiteStore) -> None:
    assert [r.id for r in store.query(RecordQuery(request_id="id-3"))] == ["id-3"]
    iris = store.query(RecordQuery(model="iris", since=T0 + timedelta(seconds=5), limit=3))
    assert [r.id for r in iris] == ["id-9", "id-8", "id-7"]
    assert [r.id for r in store.query(RecordQuery(until=T0 + timedelta(seconds=2)))] == ["id-1", "id-0"]
    assert [r.id for r in store.query(RecordQuery(flag="partial"))] == ["id-100"]
    assert [r.id for r in store.query(RecordQuery(request_id="id-1"))] == ["id-1"]  # not id-100: another request
    assert store.count() == 11


def test_a_request_id_finds_its_graph_nodes_collisions_and_events_and_nothing_else(tmp_path: Path) -> None:
    ids = ["g_1", "g_1@transformer", "g_1~0a1b2c", "g_1-feedback", "g_10", "gx1", "g_1x"]  # "_" is no wildcard
    sink = SQLiteSink(tmp_path / "iw.db")
    sink.write([InferenceRecord(id=rid, received_at=T0) for rid in ids])
    sink.close()
    store = SQLiteStore(tmp_path / "iw.db")
    found = sorted(r.id for r in store.query(RecordQuery(request_id="g_1")))
    store.close()
    assert found == ["g_1", "g_1-feedback", "g_1@transformer", "g_1~0a1b2c"]


def test_get_is_the_logged_record_of_exactly_that_id(tmp_path: Path) -> None:
    """Real exchanges captured from the Seldon wrapper and MLServer, stored and read back unchanged."""
    records = [golden("seldon_ndarray", request_id="req-a"), golden("mlserver_iris_proba", request_id="req-ab")]
    sink = SQLiteSink(tmp_path / "iw.db")
    sink.write(records)
    sink.close()
    store = SQLiteStore(tmp_path / "iw.db")
    assert store.get("req-a") == records[0] and store.get("req-ab") == records[1]
    assert store.get("req") is None
    store.close()


def test_results_by_request_and_the_outlier_flag(store: SQLiteStore, tmp_path: Path) -> None:
    sink = SQLiteSink(tmp_path / "iw.db")
    sink.write([*_outlier("id-2", [0, 1]), *_outlier("id-4", [0]), *_outlier("orphan", [1])])
    sink.close()
    assert [(r.request_id, r.item) for r in store.results_for(["id-2", "id-4", "orphan"])] == [
        ("id-2", 0),
        ("id-2", 1),
        ("id-4", None),
        ("orphan", None),
    ]
    assert [r.id for r in store.query(RecordQuery(flag="outlier"))] == ["id-2"]
    assert store.results_for([]) == []
    assert len(store.results("outlier", limit=3)) == 3 and store.results("drift") == []


def test_a_database_that_cannot_be_read_is_a_store_error(store: SQLiteStore) -> None:
    with sqlite3.connect(store.path) as other:
        other.execute("DROP TABLE records")
    with pytest.raises(StoreError, match=r"sqlite store .*iw.db: no such table: records") as err:
        store.get("id-1")
    assert err.value.status_code == 503 and err.value.retriable

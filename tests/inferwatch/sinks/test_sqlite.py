from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inferwatch.errors import ConfigError
from inferwatch.records import InferenceRecord
from inferwatch.sinks import open_sink
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores.sqlite import SQLiteStore

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _rec(i: int, model: str = "iris", flags: list[str] | None = None) -> InferenceRecord:
    return InferenceRecord(id=f"id-{i}", received_at=T0 + timedelta(seconds=i), model_name=model, flags=flags or [])


def test_write_is_idempotent(tmp_path: Path) -> None:
    """Searching what was written: ``tests/inferwatch/stores/test_sqlite.py``."""
    sink = open_sink(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(sink, SQLiteSink)
    sink.write([_rec(i) for i in range(10)] + [_rec(100, "wine", ["partial"])])
    sink.write([_rec(3), _rec(4)])  # a retry of the same ids
    assert sink.health().ok
    sink.close()
    store = SQLiteStore(tmp_path / "x.db")
    assert store.count() == 11
    assert store.get("id-3") == _rec(3)
    store.close()


def test_unknown_scheme_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="supported schemes"):
        open_sink("mongo://x")

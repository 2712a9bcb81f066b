"""``open_store``: the scheme table, its errors, and what each store reads from."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from inferwatch import stores
from inferwatch.errors import ConfigError
from inferwatch.sinks import search
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores import open_store
from inferwatch.stores.search import SearchStore
from inferwatch.stores.sqlite import SQLiteStore


def test_each_scheme_opens_the_store_of_the_sink_with_that_uri(tmp_path: Path) -> None:
    SQLiteSink(tmp_path / "iw.db").close()
    store = open_store(f"sqlite://{tmp_path / 'iw.db'}")
    assert isinstance(store, SQLiteStore) and store.description == f"sqlite store {tmp_path / 'iw.db'}"
    store.close()
    for engine in ("elasticsearch", "opensearch"):  # clients connect lazily: nothing listens on port 1
        store = open_store(f"{engine}://127.0.0.1:1,127.0.0.2:1?index=logs-{{namespace}}-{{deployment}}")
        assert isinstance(store, SearchStore) and store.engine is search.ENGINES[engine]
        assert store.description == f"{engine} 127.0.0.1:1,127.0.0.2:1 index logs-*"
        store.close()


def test_an_unsupported_scheme_names_the_supported_ones() -> None:
    with pytest.raises(ConfigError, match=r"'kafka://b:9092'.*sqlite://, elasticsearch://, opensearch://"):
        open_store("kafka://b:9092")


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_client(_: search.SearchSinkConfig) -> None:
        raise ImportError("No module named 'opensearchpy'", name="opensearchpy")

    monkeypatch.setitem(
        search.ENGINES, "opensearch", dataclasses.replace(search.ENGINES["opensearch"], connect=no_client)
    )
    with pytest.raises(ConfigError, match=r"needs its client \(opensearchpy\): pip install 'inferwatch\[opensearch\]'"):
        open_store("opensearch://127.0.0.1:1")
    monkeypatch.setitem(stores.STORES, "elasticsearch", "inferwatch_no_such_module:SearchStore")
    with pytest.raises(ConfigError, match=r"needs an optional dependency .* pip install 'inferwatch\[elasticsearch\]'"):
        open_store("elasticsearch://127.0.0.1:1")


def test_a_missing_embedded_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"no store at .*run the logger \(or 'inferwatch demo'\) first, or pass --store"
    ):
        open_store(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()


def test_missing_ok_creates_it_empty_for_a_reader_that_starts_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        store = open_store(f"sqlite:///{tmp_path / 'later' / 'iw.db'}", missing_ok=True)
    assert "does not exist yet" in caplog.text
    assert store.get("r-1") is None and store.query(stores.RecordQuery()) == []
    store.close()

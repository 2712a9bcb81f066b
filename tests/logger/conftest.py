"""Fixtures: the logger in front of a real upstream, storing to a real embedded store."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from inferwatch.logger.app import create_app, create_logger_admin_app
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from inferwatch.records import InferenceRecord
from inferwatch.stores import RecordQuery
from inferwatch.stores.sqlite import SQLiteStore
from tests.servers import serving


class Running:
    def __init__(self, url: str, service: LoggerService, store: SQLiteStore) -> None:
        self.url = url
        self.service = service
        self.store = store

    def wait_record(self, request_id: str, timeout: float = 10.0) -> InferenceRecord:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.store.query(RecordQuery(request_id=request_id, limit=1))
            if found and found[0].id == request_id:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"record {request_id} was not stored within {timeout}s")

    def metric(self, name: str, **labels: str) -> float:
        v = self.service.registry.get_sample_value(name, labels)
        return 0.0 if v is None else v


LoggerFactory = Callable[..., contextlib.AbstractContextManager[Running]]


@pytest.fixture
def run_logger(tmp_path: Path) -> LoggerFactory:
    """``with run_logger(upstream=URL, **settings) as lg:`` — a logger serving on a free port."""

    @contextlib.contextmanager
    def _run(**kw: Any) -> Iterator[Running]:
        db = tmp_path / f"store-{time.monotonic_ns()}.db"
        kw.setdefault("linger_ms", 5)
        kw.setdefault("spool_dir", tmp_path / "spool")
        kw["sink"] = [f"sqlite:///{db}", *kw.get("sink", [])]  # the store tests read, plus any extra sink
        settings = LoggerSettings(metrics_port=0, **kw)
        service = LoggerService(settings)
        service.start()
        store = SQLiteStore(db)
        try:
            with serving(create_app(service)) as url:
                yield Running(url, service, store)
        finally:
            service.stop()
            store.close()

    return _run


@pytest.fixture
def admin_app_for() -> Callable[[LoggerService], Any]:
    return create_logger_admin_app

"""The spool's disk runs full (a 1 MiB tmpfs under ``--spool-dir``) while the only sink refuses writes: the records
that do not fit are dropped *and counted* (``reason="disk_full"``), a log line names the full disk, the real
Prometheus, scraping the logger, returns a series for the ``InferwatchRecordsDropped`` rule's expression (read from
alerts.yml; the rule has no ``for:``, so it fires at its next evaluation — promtool's unit tests cover the rule),
and everything that was spooled is delivered once the sink is fixed: stored + dropped = accepted."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.prometheus import PrometheusService
from inferwatch.capture import Body, Exchange
from inferwatch.logger.app import create_logger_admin_app
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores.sqlite import SQLiteStore
from tests.servers import serving

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]
RULES = Path(__file__).parents[2] / "dashboards" / "prometheus" / "alerts.yml"
N = 400
BODY = b'{"data": {"ndarray": [[' + b", ".join(b"%d.5" % i for i in range(600)) + b"]]}}"  # ~4 KB a record


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB filesystem of its own (tmpfs): the spool's disk, full after a few hundred records."""
    mnt = tmp_path / "spool"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True, capture_output=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


def _alert_expr(name: str) -> str:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    return str(next(r["expr"] for r in rules if r.get("alert") == name))


def _wait_for(probe: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while not (got := probe()):
        assert time.monotonic() < deadline, "Prometheus never scraped the logger"
        time.sleep(0.5)
    return got


def _dropped(service: LoggerService, reason: str) -> float:
    return service.registry.get_sample_value("inferwatch_records_dropped_total", {"sink": "sqlite", "reason": reason})


def test_a_full_spool_disk_drops_counted_alerts_and_loses_nothing_else(
    tmp_path: Path, small_disk: Path, prometheus_service: PrometheusService, unique_name: Any, caplog: Any
) -> None:
    sink = SQLiteSink(tmp_path / "store.db")
    sink._db.execute("PRAGMA query_only = ON")  # the store refuses writes: everything goes to the spool
    settings = LoggerSettings(metrics_port=0, linger_ms=5, spool_dir=small_disk)  # --spool-max-bytes: 1 GiB
    service = LoggerService(settings, sinks=[sink])
    job = unique_name("disk-full")
    service.start()
    try:
        with serving(create_logger_admin_app(service)) as admin, caplog.at_level(logging.ERROR):
            prometheus_service.add_scrape_target(job, admin.removeprefix("http://"))
            _wait_for(lambda: prometheus_service.query(f'inferwatch_records_dropped_total{{job="{job}"}} == 0'), 60)
            accepted = 0
            for i in range(N):
                t = time.time()
                body = Body(BODY, "application/json", len(BODY))
                accepted += service.record(Exchange(f"d{i}", t, t, body, body, 200, "POST", "/api/v1.0/predictions"))
            assert accepted == N  # the prediction path never noticed
            deadline = time.monotonic() + 30
            while service.pipeline.depth() or not _dropped(service, "disk_full"):
                assert time.monotonic() < deadline, "the full disk was never hit"
                time.sleep(0.05)
            dropped = _dropped(service, "disk_full")
            assert 0 < dropped < N
            assert any("No space left on device" in r.getMessage() for r in caplog.records)

            expr = _alert_expr("InferwatchRecordsDropped")
            deadline = time.monotonic() + 60
            while not (firing := [s for s in prometheus_service.query(expr) if s["metric"].get("job") == job]):
                assert time.monotonic() < deadline, f"{expr} never returned a series for {job}"
                time.sleep(1)
            assert firing[0]["metric"]["sink"] == "sqlite" and firing[0]["metric"]["reason"] == "disk_full"
            prometheus_service.remove_scrape_target(job, admin.removeprefix("http://"))
        with sink._lock:
            sink._db.execute("PRAGMA query_only = OFF")  # fixed: the spool is delivered
    finally:
        service.stop()
    store = SQLiteStore(tmp_path / "store.db")  # one row per record id: a record delivered twice is one row
    count = store.count()
    store.close()
    assert count + dropped == N, f"stored {count}, dropped {dropped}, accepted {N}"

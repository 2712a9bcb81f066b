"""A durable ``ResultPublisher`` (``detector consume``): once ``settle`` returns, a SIGKILL loses no result — the
next start delivers them from the write-ahead log, although no sink had written any of them before the kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from inferwatch.delivery.pipeline import DeliveryOptions
from inferwatch.delivery.publisher import ResultPublisher
from inferwatch.errors import ConfigError
from inferwatch.metrics import new_registry
from inferwatch.results import per_request
from inferwatch.sinks import open_sink
from inferwatch.stores.sqlite import SQLiteStore

N = 200

# The killed process: its only sink never finishes a write, so a result is safe only if the log has it.
PUBLISH_THEN_HANG = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from inferwatch.delivery.pipeline import DeliveryOptions
    from inferwatch.delivery.publisher import ResultPublisher
    from inferwatch.metrics import new_registry
    from inferwatch.results import per_request

    class Hanging:
        name = "sqlite"
        def write(self, records):
            threading.Event().wait()
        def health(self):
            raise AssertionError("not probed")
        def close(self):
            pass

    spool, n = Path(sys.argv[1]), int(sys.argv[2])
    publisher = ResultPublisher([Hanging()], new_registry(), DeliveryOptions(spool_dir=spool), durable=True).start()
    for i in range(n):
        publisher.publish_all(per_request("outlier", {"data": {"is_outlier": [1]}}, f"k-{i}", 1))
    assert publisher.settle() == 0
    print("settled", flush=True)
    threading.Event().wait()
    """
)


def test_results_settled_before_a_sigkill_are_delivered_by_the_next_start(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISH_THEN_HANG, str(spool), str(N)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "settled"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)

    db = tmp_path / "results.db"
    registry = new_registry()
    options = DeliveryOptions(spool_dir=spool)
    restarted = ResultPublisher([open_sink(f"sqlite:///{db}")], registry, options, durable=True).start()
    deadline = time.monotonic() + 60
    while (registry.get_sample_value("inferwatch_sink_records_written_total", {"sink": "sqlite"}) or 0) < N:
        assert time.monotonic() < deadline, "the write-ahead log was not replayed"
        time.sleep(0.05)
    restarted.close()
    stored = SQLiteStore(db).results("outlier", limit=10 * N)
    assert sorted(r.request_id for r in stored) == sorted(f"k-{i}" for i in range(N))


def test_settle_returns_at_once_without_a_durable_log(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    publisher = ResultPublisher([open_sink(f"sqlite:///{db}")], new_registry(), DeliveryOptions(spool_dir=tmp_path))
    publisher.start()
    assert not publisher.durable
    assert publisher.publish_all(per_request("outlier", {"data": {"is_outlier": [0]}}, "a-1", 1)) == 1
    assert publisher.settle() == 0
    publisher.close()
    assert [r.request_id for r in SQLiteStore(db).results("outlier")] == ["a-1"]


def test_a_durable_publisher_needs_a_spool(tmp_path: Path) -> None:
    sink = open_sink(f"sqlite:///{tmp_path / 'r.db'}")
    with pytest.raises(ConfigError, match="results-spool-max-bytes"):
        ResultPublisher([sink], new_registry(), DeliveryOptions(spool_dir=tmp_path, spool_max_bytes=0), durable=True)

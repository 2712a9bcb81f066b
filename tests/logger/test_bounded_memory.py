"""50k requests through the logger into a sink slower than the traffic: memory stays bounded and every
record is either stored or counted as dropped; with a spool that has room, none is dropped (what the builder or
the sink cannot take yet waits on disk). The slow sink wraps the real embedded store."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from inferwatch.capture import Body, Exchange
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from inferwatch.records import InferenceRecord
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores.sqlite import SQLiteStore

N = 50_000
EVENT = json.loads(
    (Path(__file__).parents[1] / "testdata" / "cloudevents" / "seldon_executor_request.json").read_text()
)


class SlowStore(SQLiteSink):
    """The real SQLite store, made slower than the traffic (5 ms per batch of at most 20)."""

    def write(self, records: Sequence[InferenceRecord]) -> None:
        time.sleep(0.005)
        super().write(records)


def _dropped(reg: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (s.labels["sink"], s.labels["reason"]): s.value
        for metric in reg.collect()
        if metric.name == "inferwatch_records_dropped"
        for s in metric.samples
        if s.name.endswith("_total") and s.value
    }


@pytest.mark.parametrize("spool", [False, True], ids=["memory-only", "with-spool"])
def test_50k_requests_into_a_slow_sink_stay_bounded_and_losses_are_counted(tmp_path: Path, spool: bool) -> None:
    store = SlowStore(tmp_path / "slow.db")
    settings = LoggerSettings(
        queue_size=1000,
        batch_size=20,
        linger_ms=1,
        metrics_port=0,
        spool_dir=tmp_path / "spool",
        spool_max_bytes=(512 << 20) if spool else 0,
        shutdown_timeout=60,
    )
    service = LoggerService(settings, sinks=[store])
    service.start()
    body = json.dumps(EVENT["body"]).encode()
    max_depth = 0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(N):
        ex = Exchange(
            request_id=f"r{i}",
            received_at=time.time(),
            responded_at=time.time(),
            status_code=200,
            method="POST",
            path="/api/v1.0/predictions",
            request=Body(body, "application/json", len(body)),
            response=Body(body, "application/json", len(body)),
        )
        service.record(ex)
        if i % 500 == 0:
            max_depth = max(max_depth, service.pipeline.depth())
    service.stop()
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    reg = service.registry
    dropped = _dropped(reg)
    left = sum(reg.get_sample_value("inferwatch_spool_records", {"sink": s}) or 0 for s in ("sqlite", "intake"))
    check = SQLiteStore(tmp_path / "slow.db")
    stored = check.count()
    check.close()
    assert max_depth <= 2 * settings.queue_size + settings.batch_size
    assert stored + sum(dropped.values()) + left == N, "every record is stored, spooled or counted as dropped"
    assert reg.get_sample_value("inferwatch_sink_records_written_total", {"sink": "sqlite"}) == stored
    assert rss_growth_mb < 200, f"memory grew by {rss_growth_mb:.0f} MiB"
    if spool:  # what did not fit in memory went to disk, not away: not one record dropped
        assert (reg.get_sample_value("inferwatch_spool_replayed_total", {"sink": "sqlite"}) or 0) > 0
        assert dropped == {}, f"records dropped while the spools had room: {dropped}"
    else:  # the sink was slower than the traffic: without a spool some records had to be dropped
        assert dropped.get(("sqlite", "queue_full"), 0) + dropped.get(("intake", "queue_full"), 0) > 0

"""50k requests through the logger into a sink slower than the traffic: memory stays bounded and every
record is either stored or counted as dropped. The slow sink wraps the real embedded store."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Sequence
from pathlib import Path

from inferwatch.capture import Body, Exchange
from inferwatch.records import InferenceRecord
from inferwatch.sinks.sqlite import SQLiteSink
from logger.service import LoggerService
from logger.settings import LoggerSettings

N = 50_000
EVENT = json.loads(
    (Path(__file__).parents[1] / "testdata" / "cloudevents" / "seldon_executor_request.json").read_text()
)


class SlowStore(SQLiteSink):
    """The real SQLite store, made slower than the traffic (5 ms per batch of at most 20)."""

    def write(self, records: Sequence[InferenceRecord]) -> None:
        time.sleep(0.005)
        super().write(records)


def test_50k_requests_into_a_slow_sink_stay_bounded_and_drops_are_counted(tmp_path: Path) -> None:
    store = SlowStore(tmp_path / "slow.db")
    settings = LoggerSettings(queue_size=1000, batch_size=20, linger_ms=1, metrics_port=0)
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
    dropped = sum(
        reg.get_sample_value("inferwatch_records_dropped_total", {"sink": s, "reason": "queue_full"}) or 0
        for s in ("intake", "sqlite")
    )
    check = SQLiteSink(tmp_path / "slow.db")
    stored = check.count()
    check.close()
    assert max_depth <= 2 * settings.queue_size + settings.batch_size
    assert dropped > 0, "the sink was slower than the traffic, so some records must have been dropped"
    assert stored + dropped == N, "every record is stored or counted as dropped"
    assert reg.get_sample_value("inferwatch_sink_records_written_total", {"sink": "sqlite"}) == stored
    assert rss_growth_mb < 200, f"memory grew by {rss_growth_mb:.0f} MiB"

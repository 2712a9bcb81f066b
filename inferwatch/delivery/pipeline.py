"""The delivery pipeline: bounded intake queue -> record builder thread -> one worker per sink.

``submit`` is what the prediction path calls: it never blocks and never raises. Everything else —
decoding, flattening, redaction, batching, writing, retrying — happens on background threads. Memory is
bounded by the queue sizes; what does not fit is dropped, counted in ``inferwatch_records_dropped_total``
and logged, never lost silently.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from inferwatch.delivery.metrics import DeliveryMetrics
from inferwatch.delivery.worker import SinkWorker
from inferwatch.records import InferenceRecord
from inferwatch.sinks.base import Sink

log = logging.getLogger("inferwatch.delivery")

T = TypeVar("T")
_STOP = object()


@dataclass(frozen=True)
class DeliveryOptions:
    queue_size: int = 10_000
    """Records held in memory before the builder (and again per sink) before drops start."""
    batch_size: int = 500
    linger: float = 0.05
    """Seconds a worker waits to fill a batch."""
    max_retries: int = 5
    retry_backoff: float = 0.2
    shutdown_timeout: float = 30.0


class Pipeline(Generic[T]):
    """Accepts raw items (e.g. ``Exchange``), builds records in the background, fans out to sinks."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        build: Callable[[T], InferenceRecord],
        metrics: DeliveryMetrics,
        options: DeliveryOptions | None = None,
    ) -> None:
        self.options = options or DeliveryOptions()
        self.metrics = metrics
        self._build = build
        self._intake: queue.Queue[Any] = queue.Queue(maxsize=self.options.queue_size)
        _unique_names(sinks)
        self.workers = [
            SinkWorker(
                s,
                metrics,
                queue_size=self.options.queue_size,
                batch_size=self.options.batch_size,
                linger=self.options.linger,
                max_retries=self.options.max_retries,
                retry_backoff=self.options.retry_backoff,
            )
            for s in sinks
        ]
        self._thread = threading.Thread(target=self._run, name="record-builder", daemon=True)
        self._last_drop_log = 0.0
        metrics.queue_depth.labels("intake").set_function(self._intake.qsize)

    def start(self) -> None:
        for w in self.workers:
            w.start()
        self._thread.start()

    def submit(self, item: T, source: str = "proxy") -> bool:
        """Hand over one item; ``False`` if it was dropped because the intake queue is full."""
        try:
            self._intake.put_nowait(item)
        except queue.Full:
            self.metrics.dropped.labels("intake", "queue_full").inc()
            now = time.monotonic()
            if now - self._last_drop_log > 5.0:  # one line per 5 s, the metric counts every drop
                self._last_drop_log = now
                log.warning("delivery queue full (%d): dropping records", self.options.queue_size)
            return False
        self.metrics.received.labels(source).inc()
        return True

    def depth(self) -> int:
        return self._intake.qsize() + sum(w.depth() for w in self.workers)

    def stop(self) -> None:
        """Deliver everything accepted so far (bounded by ``shutdown_timeout``), then close the sinks."""
        self._intake.put(_STOP)
        self._thread.join(self.options.shutdown_timeout)
        for w in self.workers:
            w.stop(self.options.shutdown_timeout)

    def _run(self) -> None:
        while True:
            item = self._intake.get()
            if item is _STOP:
                return
            try:
                record = self._build(item)
            except Exception:
                self.metrics.dropped.labels("intake", "build_error").inc()
                log.exception("could not build a record; dropped")
                continue
            for w in self.workers:
                w.offer(record)


def _unique_names(sinks: Sequence[Sink]) -> None:
    seen: dict[str, int] = {}
    for s in sinks:
        n = seen.get(s.name, 0)
        seen[s.name] = n + 1
        if n:
            s.name = f"{s.name}-{n + 1}"

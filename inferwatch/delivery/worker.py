"""One thread per sink: batch by size or linger time, write, retry with backoff, count what is lost."""

from __future__ import annotations

import logging
import queue
import threading
import time

from inferwatch.delivery.metrics import DeliveryMetrics
from inferwatch.errors import SinkError
from inferwatch.records import InferenceRecord
from inferwatch.sinks.base import Sink, SinkHealth

log = logging.getLogger("inferwatch.delivery")

_STOP = object()


class SinkWorker:
    """Feeds one sink from its own bounded queue, so a slow sink never slows the others."""

    def __init__(
        self,
        sink: Sink,
        metrics: DeliveryMetrics,
        *,
        queue_size: int,
        batch_size: int,
        linger: float,
        max_retries: int,
        retry_backoff: float,
    ) -> None:
        self.sink = sink
        self.metrics = metrics
        self.batch_size = batch_size
        self.linger = linger
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)
        metrics.queue_depth.labels(sink.name).set_function(self._queue.qsize)
        metrics.sink_up.labels(sink.name).set(1)

    def start(self) -> None:
        self._thread.start()

    def offer(self, record: InferenceRecord) -> bool:
        """Queue a record without blocking; a full queue drops it, counted and logged."""
        try:
            self._queue.put_nowait(record)
            return True
        except queue.Full:
            self.metrics.dropped.labels(self.sink.name, "queue_full").inc()
            log.warning("sink %s is behind (queue full): dropped record %s", self.sink.name, record.id)
            return False

    def depth(self) -> int:
        return self._queue.qsize()

    def health(self) -> SinkHealth:
        try:
            return self.sink.health()
        except Exception as e:  # a health probe must never take the service down
            return SinkHealth(False, f"health check failed: {e}")

    def stop(self, timeout: float) -> None:
        """Deliver what is queued (within ``timeout``), then flush and close the sink."""
        self._stopping.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            left = self._queue.qsize()
            self.metrics.dropped.labels(self.sink.name, "shutdown_timeout").inc(left)
            log.error(
                "sink %s did not drain within %.0fs: %d records not delivered", self.sink.name, timeout, left
            )
        try:
            self.sink.flush()
            self.sink.close()
        except Exception as e:
            log.error("closing sink %s failed: %s", self.sink.name, e)

    def _run(self) -> None:
        while True:
            batch, stop = self._take()
            if batch:
                self._deliver(batch)
            if stop:
                return

    def _take(self) -> tuple[list[InferenceRecord], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self.linger
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True  # type: ignore[return-value]
            batch.append(item)
        return batch, False  # type: ignore[return-value]

    def _deliver(self, batch: list[InferenceRecord]) -> None:
        name = self.sink.name
        attempt = 0
        while True:
            start = time.perf_counter()
            try:
                self.sink.write(batch)
            except Exception as e:
                err = (
                    e if isinstance(e, SinkError) else SinkError(f"{type(e).__name__}: {e}", retriable=False)
                )
                self.metrics.sink_errors.labels(name).inc()
                self.metrics.sink_up.labels(name).set(0)
                if not err.retriable or attempt >= self.max_retries:
                    self.metrics.dropped.labels(name, "sink_error").inc(len(batch))
                    log.error(
                        "sink %s: dropped %d records after %d attempt(s): %s",
                        name,
                        len(batch),
                        attempt + 1,
                        err,
                    )
                    return
                delay = min(self.retry_backoff * (2**attempt), 5.0)
                log.warning("sink %s: write failed (%s); retry %d in %.2fs", name, err, attempt + 1, delay)
                attempt += 1
                time.sleep(delay)
                continue
            self.metrics.batch_seconds.labels(name).observe(time.perf_counter() - start)
            self.metrics.batch_size.labels(name).observe(len(batch))
            self.metrics.written.labels(name).inc(len(batch))
            self.metrics.sink_up.labels(name).set(1)
            return

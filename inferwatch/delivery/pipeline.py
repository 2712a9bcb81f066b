"""The delivery pipeline: bounded intake queue -> record builder thread -> one worker per sink.

``submit`` is what the prediction path calls: it never blocks and never raises. Everything else —
decoding, flattening, redaction, batching, writing, retrying — happens on background threads. Memory is
bounded by the queue sizes. With a spool (``DeliveryOptions.spool_dir``) what does not fit in a sink's
queue, or what a failing sink refuses, goes to that sink's on-disk spool and is replayed in order; only a
full spool drops. Every drop is counted in ``inferwatch_records_dropped_total`` and logged.

Durability (``DeliveryOptions.durability``):

- ``async`` — ``submit`` queues in memory. A crash loses at most what is in memory: the intake queue,
  each sink's queue and the batch being written (``queue_size`` records per queue, ``batch_size`` per
  sink). Spooled records survive a process crash (page cache) and are fsynced on segment roll and stop.
- ``sync`` — ``submit_durable`` returns a future resolved once the item is in the write-ahead log and
  fsynced (group commit). Sink spools are fsynced before an entry is acknowledged, so nothing resolved
  ``True`` is lost by a crash; unacknowledged entries are re-submitted on the next start.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from inferwatch.delivery.metrics import DeliveryMetrics
from inferwatch.delivery.spool import Spool
from inferwatch.delivery.wal import WAL, AckTracker, WriteAheadLog
from inferwatch.delivery.worker import SinkWorker, SpoolConfig
from inferwatch.errors import ConfigError
from inferwatch.results import Record
from inferwatch.sinks.base import Sink

log = logging.getLogger("inferwatch.delivery")

T = TypeVar("T")
_STOP = object()


@dataclass(frozen=True, slots=True)
class _Built:
    """An intake entry that is already a record (``submit_record``): the builder passes it on as it is."""

    record: Record


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
    durability: Literal["async", "sync"] = "async"
    """``sync``: ``submit_durable`` answers only once the item is in the fsynced write-ahead log."""
    spool_dir: Path | None = None
    """Parent of the per-sink spools (``<spool_dir>/<sink>/``) and the write-ahead log; ``None``: no
    spool (records that do not fit in memory are dropped)."""
    spool_max_bytes: int = 1 << 30
    """Bound of each sink's spool and of the write-ahead log; 0 disables spooling."""
    probe_max: float = 5.0
    """Longest pause between two probes of a failing sink while its spool waits."""
    commit_every: int = 256
    """The builder syncs sink spools (``sync`` mode) at least every this many records."""

    @property
    def spooling(self) -> bool:
        return self.spool_dir is not None and self.spool_max_bytes > 0


Codec = tuple[Callable[[T], bytes], Callable[[bytes], T]]
"""``(encode, decode)`` of the items the write-ahead log stores."""


class Pipeline(Generic[T]):
    """Accepts raw items (e.g. ``Exchange``), builds records in the background, fans out to sinks."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        build: Callable[[T], Record | list[Record]],
        metrics: DeliveryMetrics,
        options: DeliveryOptions | None = None,
        codec: Codec[T] | None = None,
    ) -> None:
        self.options = o = options or DeliveryOptions()
        self.metrics = metrics
        self._build = build
        self._intake: queue.Queue[Any] = queue.Queue(maxsize=o.queue_size)
        _unique_names(sinks)
        self.wal: WriteAheadLog[T] | None = None
        self._tracker: AckTracker | None = None
        if o.durability == "sync":
            if not o.spooling or o.spool_dir is None or codec is None:
                raise ConfigError("durability 'sync' needs a spool directory and spool_max_bytes > 0")
            spool = Spool(o.spool_dir / "intake-wal", max_bytes=o.spool_max_bytes, fsync=True)
            self._tracker = AckTracker(spool, len(sinks))
            self.wal = WriteAheadLog(spool, codec[0], codec[1], self._hand_over, metrics)
        self.workers = [
            SinkWorker(
                s,
                metrics,
                queue_size=o.queue_size,
                batch_size=o.batch_size,
                linger=o.linger,
                max_retries=o.max_retries,
                retry_backoff=o.retry_backoff,
                spool=self._spool_for(s),
                on_done=self._tracker.done if self._tracker else None,
                probe_max=o.probe_max,
            )
            for s in sinks
        ]
        self._thread = threading.Thread(target=self._run, name="record-builder", daemon=True)
        self._last_drop_log = 0.0
        metrics.queue_depth.labels("intake").set_function(self._intake.qsize)

    @property
    def durable(self) -> bool:
        """Whether ``submit_durable`` waits for the write-ahead log (``durability='sync'``)."""
        return self.wal is not None

    def _spool_for(self, sink: Sink) -> SpoolConfig | None:
        o = self.options
        if not o.spooling or o.spool_dir is None:
            return None
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", sink.name)
        return SpoolConfig(o.spool_dir / safe, o.spool_max_bytes, fsync=o.durability == "sync")

    def start(self) -> None:
        """Start the workers (each replays its spool first), the builder, then the write-ahead log
        (which re-submits what the last run did not acknowledge)."""
        for w in self.workers:
            w.start()
        self._thread.start()
        if self.wal is not None:
            self.wal.start()

    def submit(self, item: T, source: str = "proxy") -> bool:
        """Hand over one item; ``False`` if it was dropped because the intake queue is full."""
        try:
            self._intake.put_nowait((None, item))
        except queue.Full:
            self.metrics.dropped.labels("intake", "queue_full").inc()
            now = time.monotonic()
            if now - self._last_drop_log > 5.0:  # one line per 5 s, the metric counts every drop
                self._last_drop_log = now
                log.warning("delivery queue full (%d): dropping records", self.options.queue_size)
            return False
        self.metrics.received.labels(source).inc()
        return True

    def submit_record(self, record: Record, source: str = "results") -> bool:
        """Hand over an already-built record (a detector/explainer ``ResultRecord``, or an ``InferenceRecord``
        built elsewhere): never blocks, never raises; ``False`` if dropped (intake full, counted and logged)."""
        return self.submit(_Built(record), source)  # type: ignore[arg-type]

    def submit_durable(self, item: T, source: str = "proxy") -> concurrent.futures.Future[bool]:
        """Sync mode: a future resolved ``True`` once ``item`` is fsynced in the write-ahead log. Without
        a log (async mode) it is ``submit`` with an already resolved future."""
        if self.wal is None:
            done: concurrent.futures.Future[bool] = concurrent.futures.Future()
            done.set_result(self.submit(item, source))
            return done
        self.metrics.received.labels(source).inc()
        return self.wal.submit(item)

    def depth(self) -> int:
        """Records held in memory (intake and sink queues)."""
        return self._intake.qsize() + sum(w.depth() for w in self.workers)

    def backlog(self) -> dict[str, tuple[int, int]]:
        """``{sink: (records, bytes)}`` of the on-disk spools (``wal``: the write-ahead log)."""
        out = {w.sink.name: w.backlog() for w in self.workers}
        if self.wal is not None:
            out[WAL] = (self.wal.spool.records, self.wal.spool.size_bytes)
        return out

    def stop(self) -> None:
        """Deliver everything accepted so far, or spool it (bounded by ``shutdown_timeout``), then close
        the sinks and spools."""
        if self.wal is not None:
            self.wal.stop()
        self._intake.put(_STOP)
        self._thread.join(self.options.shutdown_timeout)
        for w in self.workers:
            w.stop(self.options.shutdown_timeout)
        if self.wal is not None:
            self.wal.close()

    def _hand_over(self, seq: int, item: T) -> None:
        """From the write-ahead log: durable items enter the intake (blocking = back-pressure)."""
        assert self._tracker is not None
        self._tracker.expect(seq)
        self._intake.put((seq, item))

    def _run(self) -> None:
        pending = 0
        while True:
            if pending and (self._intake.empty() or pending >= self.options.commit_every):
                self._commit()
                pending = 0
            entry = self._intake.get()
            if entry is _STOP:
                self._commit()
                return
            seq, item = entry
            pending += 1
            try:
                built = item.record if isinstance(item, _Built) else self._build(item)
            except Exception:
                self.metrics.dropped.labels("intake", "build_error").inc()
                log.exception("could not build a record; dropped")
                if seq is not None and self._tracker is not None:
                    self._tracker.finish(seq)
                continue
            records = built if isinstance(built, list) else [built]
            if seq is not None and self._tracker is not None:
                if not records:
                    self._tracker.finish(seq)
                elif len(records) > 1:
                    self._tracker.expand(seq, len(records))  # acked once every sink has every record
            for record in records:
                for w in self.workers:
                    w.offer(record, seq)

    def _commit(self) -> None:
        for w in self.workers:
            w.commit()


def _unique_names(sinks: Sequence[Sink]) -> None:
    seen: dict[str, int] = {}
    for s in sinks:
        n = seen.get(s.name, 0)
        seen[s.name] = n + 1
        if n:
            s.name = f"{s.name}-{n + 1}"

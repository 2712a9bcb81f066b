"""The delivery pipeline: intake (bounded queue + intake spool) -> record builder thread -> one worker per sink.

``submit`` is what the prediction path calls: it never blocks and never raises. Everything else —
decoding, flattening, redaction, batching, writing, retrying — happens on background threads. Memory is
bounded by the queue sizes. With a spool (``DeliveryOptions.spool_dir``) nothing is dropped while there is
disk room: what does not fit in the intake queue because the builder fell behind goes to the intake spool
(``<spool_dir>/intake/``, ``inferwatch.delivery.intake``) and is built in order when the builder catches up;
what does not fit in a sink's queue, or what a failing sink refuses, goes to that sink's spool and is replayed
in order. Only a full spool drops. Every drop is counted in ``inferwatch_records_dropped_total`` and logged.

Durability (``DeliveryOptions.durability``):

- ``async`` — ``submit`` queues in memory. A crash loses at most what is in memory: the intake queue,
  each sink's queue and the batch being written (``queue_size`` records per queue, ``batch_size`` per
  sink). Spooled items survive a process crash (page cache) and are fsynced on segment roll and stop.
- ``sync`` — ``submit_durable`` returns a future resolved once the item is in the write-ahead log and
  fsynced (group commit). Sink spools are fsynced before an entry is acknowledged, so nothing resolved
  ``True`` is lost by a crash; unacknowledged entries are re-submitted on the next start.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast

from inferwatch.delivery.backlog import decode_record, encode_record
from inferwatch.delivery.intake import INTAKE, Intake
from inferwatch.delivery.metrics import DeliveryMetrics
from inferwatch.delivery.spool import Spool
from inferwatch.delivery.wal import WAL, AckTracker, WriteAheadLog
from inferwatch.delivery.worker import SinkWorker, SpoolConfig
from inferwatch.errors import ConfigError
from inferwatch.health import Check, thread_check
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
    """Parent of the intake spool (``<spool_dir>/intake/``), the per-sink spools (``<spool_dir>/<sink>/``) and
    the write-ahead log; ``None``: no spool (what does not fit in memory is dropped)."""
    spool_max_bytes: int = 1 << 30
    """Bound of the intake spool, of each sink's spool and of the write-ahead log; 0 disables spooling."""
    probe_max: float = 5.0
    """Longest pause between two probes of a failing sink while its spool waits."""
    commit_every: int = 256
    """The builder syncs sink spools (``sync`` mode) at least every this many records."""

    @property
    def spooling(self) -> bool:
        return self.spool_dir is not None and self.spool_max_bytes > 0


Codec = tuple[Callable[[T], bytes], Callable[[bytes], T]]
"""``(encode, decode)`` of the items the write-ahead log and the intake spool store. Without one, only records
(``submit_record``) can spill to the intake spool; other items are dropped when the intake queue is full."""

_ITEM, _RECORD = b"E", b"R"
"""Tags of an intake spool frame: an item of the pipeline's codec, or a built record's JSON."""


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
        self._codec = codec
        self._intake = Intake(
            o.queue_size,
            metrics,
            directory=o.spool_dir / INTAKE if o.spooling and o.spool_dir is not None else None,
            max_bytes=o.spool_max_bytes,
            encode=self._encode,
            decode=self._decode,
        )
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
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._started = False

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
        self._started = True
        for w in self.workers:
            w.start()
        self._intake.start()
        self._thread.start()
        if self.wal is not None:
            self.wal.start()

    def submit(self, item: T, source: str = "proxy") -> bool:
        """Hand over one item without waiting: to the intake queue, or to the intake spool when the builder is
        behind; ``False`` if it was dropped (no room in either; counted and logged)."""
        if not self._intake.offer((None, item)):
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
        return self._intake.depth() + sum(w.depth() for w in self.workers)

    def backlog(self) -> dict[str, tuple[int, int]]:
        """``{sink: (records, bytes)}`` of the on-disk spools (``intake``: the intake spool, ``wal``: the
        write-ahead log)."""
        out = {w.sink.name: w.backlog() for w in self.workers}
        if self._intake.directory is not None:
            out[INTAKE] = self._intake.backlog()
        if self.wal is not None:
            out[WAL] = (self.wal.spool.records, self.wal.spool.size_bytes)
        return out

    def liveness(self) -> Check:
        """Every delivery thread runs (the builder, each sink's worker, the write-ahead log's writer). A dead one
        delivers nothing any more: only a restart helps. Before ``start`` and from ``stop`` on: ok."""
        if not self._started or self._stopping.is_set():
            return Check(True)
        threads = [self._thread, *(w.thread for w in self.workers)]
        if self.wal is not None:
            threads.append(self.wal.thread)
        dead = [t.name for t in threads if not thread_check(t).ok]
        if not dead:
            return Check(True, detail={"threads": len(threads)})
        return Check(False, f"delivery thread(s) died: {', '.join(dead)}; nothing is delivered through them")

    def room(self) -> Check:
        """Whether an item submitted now is accepted (intake queue or intake spool has room) rather than dropped."""
        queued, (spooled, spool_bytes) = self._intake.depth(), self._intake.backlog()
        detail = {"queued": queued, "spooled": spooled, "spool_bytes": spool_bytes}
        if self._intake.has_room():
            return Check(True, detail=detail)
        if self._intake.directory is None:
            why = f"the intake queue is full ({self.options.queue_size}) and there is no spool"
        else:
            why = f"the intake spool is full ({self.options.spool_max_bytes} bytes): the record builder is far behind"
        return Check(False, why + "; submitted items are dropped", detail)

    def stop(self) -> None:
        """Deliver everything accepted so far, or spool it (bounded by ``shutdown_timeout``), then close
        the sinks and spools."""
        timeout = self.options.shutdown_timeout
        self._deadline = time.monotonic() + timeout * 0.9
        self._stopping.set()
        if self.wal is not None:
            self.wal.stop()
        self._intake.put(_STOP, timeout)
        self._thread.join(max(0.0, self._deadline - time.monotonic()) + timeout * 0.1)
        if self._thread.is_alive():
            self._abandon(f"the record builder did not finish within {timeout:.0f}s")
        for w in self.workers:
            w.stop(self.options.shutdown_timeout)
        if self.wal is not None:
            self.wal.close()

    def _hand_over(self, seq: int, item: T) -> None:
        """From the write-ahead log: durable items enter the intake (blocking = back-pressure)."""
        assert self._tracker is not None
        self._tracker.expect(seq)
        self._intake.put((seq, item))

    def _encode(self, entry: object) -> bytes | None:
        """An intake entry ``(None, item)`` as an intake spool frame; ``None`` without a codec for the item."""
        item = cast(tuple[None, Any], entry)[1]
        if isinstance(item, _Built):
            return _RECORD + encode_record(item.record)
        return None if self._codec is None else _ITEM + self._codec[0](item)

    def _decode(self, payload: bytes) -> object:
        if payload[:1] == _RECORD:
            return None, _Built(decode_record(payload[1:]))
        assert self._codec is not None and payload[:1] == _ITEM, "an item frame needs the pipeline's codec"
        return None, self._codec[1](payload[1:])

    def _abandon(self, why: str) -> None:
        """Count what is still in the intake's memory as lost (``shutdown_timeout``); write-ahead-log entries are
        not: the next start re-submits them."""
        left = self._intake.abandon(lambda e: e is not _STOP and cast(tuple[Any, Any], e)[0] is None)
        if left:
            self.metrics.dropped.labels(INTAKE, "shutdown_timeout").inc(left)
            log.error("%s: %d items in memory not delivered", why, left)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:
            log.critical("the record builder thread died: nothing more is delivered", exc_info=True)
            raise
        finally:
            if self._stopping.is_set():
                self._abandon("shutdown deadline reached")
            left = self._intake.close()
            if left:
                log.warning("intake: %d items stay in the intake spool until the next start", left)

    def _loop(self) -> None:
        pending = 0
        draining = False  # the stop marker was taken: what is still on disk comes next, without waiting
        while not (self._stopping.is_set() and time.monotonic() > self._deadline):
            if pending and (self._intake.idle() or pending >= self.options.commit_every):
                self._commit()
                pending = 0
            entry = self._intake.take(block=not draining)
            if entry is None:
                break
            if entry is _STOP:
                draining = True
                continue
            self._handle(entry)
            pending += 1
        self._commit()

    def _handle(self, entry: Any) -> None:
        """Build the records of one intake entry ``(seq, item)`` and offer them to every sink worker."""
        seq, item = entry
        try:
            built = item.record if isinstance(item, _Built) else self._build(item)
        except Exception:
            self.metrics.dropped.labels(INTAKE, "build_error").inc()
            log.exception("could not build a record; dropped")
            if seq is not None and self._tracker is not None:
                self._tracker.finish(seq)
            return
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

"""One thread per sink: batch, write, retry; spill to the sink's on-disk spool when the sink is slow or
failing, and replay the spool in order once the sink accepts writes again.

Order. One sink's records form a single FIFO whose parts live in memory or on disk:

- ``offer`` (builder thread) puts a record in the memory queue, unless the queue is full or a backlog
  exists on disk: then the record goes to the spool's ``overflow`` lane. So what is on disk is always
  newer than what is in memory, and nothing enters memory while the disk has a backlog.
- the worker drains memory first, then the spool (``retry`` lane, then ``overflow``), batch by batch.
- a memory batch that still fails after ``max_retries`` goes, with the rest of the memory queue, to the
  ``retry`` lane (empty at that moment, since memory only fills while the disk is empty), ahead of
  ``overflow``. Replay probes the failing sink with exponential backoff up to ``probe_max`` seconds.

One record never fails its batch (``_attempt``, rules in ``triage``). A sink reports which records it did not
write (``inferwatch.sinks.failures``): the others count as written; one refused for what it carries is written
again in its next smaller form (``inferwatch.reduction``: reduced, then shed) and, refused even in its smallest
form, dropped alone (``unwritable``, logged with its id); a batch refused as a whole with no detail is written
one record at a time. A destination that refuses until a person acts blocks the sink (``blocked``): records stay
in the spool, probed every ``blocked_probe`` seconds, and the log, health and a gauge say what to do.

Only a full spool (``spool_full``), an unusable one (``spool_error``), a record no form of which the sink
accepts (``unwritable``) or a sink hanging past the shutdown timeout drop records, counted and logged. Without
a spool (``spool=None``) the worker drops as before after its retries: ``queue_full``, ``sink_error`` and
``sink_blocked``.

Ack tokens. ``offer`` may carry a token (the write-ahead-log sequence number of ``--durability sync``);
``on_done`` receives it once the record is written to the sink, synced to its spool, or counted as
dropped — from then on the write-ahead log no longer needs it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from inferwatch.delivery.backlog import Lane, SinkBacklog, decode_record
from inferwatch.delivery.blocked import BlockedState
from inferwatch.delivery.ledger import ReplayLedger
from inferwatch.delivery.metrics import SINK_DROPS, DeliveryMetrics
from inferwatch.delivery.spool import SpoolError, SpoolFull, write_failure
from inferwatch.delivery.triage import triage
from inferwatch.errors import InferwatchError, SinkError
from inferwatch.reduction import is_reduced, smaller
from inferwatch.results import Record
from inferwatch.sinks.base import Sink, SinkHealth

log = logging.getLogger("inferwatch.delivery")

_STOP = object()
Item = tuple[Record, int | None]
OnDone = Callable[[Sequence[int]], None]
_DROP_LINES_PER_SECOND = 10


@dataclass(frozen=True)
class SpoolConfig:
    """Where and how big a sink's spool is; ``fsync`` for ``--durability sync``."""

    directory: Path
    max_bytes: int
    fsync: bool = False
    segment_bytes: int | None = None


class SinkWorker:
    """Feeds one sink from its own bounded queue (and spool), so a slow sink never slows the others."""

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
        spool: SpoolConfig | None = None,
        on_done: OnDone | None = None,
        probe_max: float = 5.0,
        blocked_probe: float | None = None,
    ) -> None:
        self.sink = sink
        self.metrics = metrics
        metrics.expose_drops(sink.name, SINK_DROPS)
        self.batch_size = batch_size
        self.linger = linger
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.spool = spool
        self.probe_max = probe_max
        self._on_done = on_done
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()  # guards _spilling, _backlog and _unsynced against offer()
        self._spilling = False
        self._backlog: SinkBacklog | None = None
        self._backlog_failed = False
        self._unsynced: list[int] = []
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._probe = retry_backoff
        self._last_log: dict[str, float] = {}
        self._drop_lines: tuple[float, int] = (0.0, 0)
        self.blocked = BlockedState(sink.name, metrics, blocked_probe if blocked_probe is not None else 6 * probe_max)
        """Set while the destination refuses writes until a person acts; probed every ``blocked_probe`` seconds
        (default 6 * ``probe_max``)."""
        self._ledger = ReplayLedger()
        self._thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)
        metrics.queue_depth.labels(sink.name).set_function(self._queue.qsize)
        metrics.spool_records.labels(sink.name).set_function(lambda: self.backlog()[0])
        metrics.spool_bytes.labels(sink.name).set_function(lambda: self.backlog()[1])
        metrics.sink_up.labels(sink.name).set(1)

    # -- called from other threads -------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread; a backlog left by a previous run is replayed first."""
        if self.spool is not None and SinkBacklog.has_data(self.spool.directory):
            with self._lock:
                backlog = self._open_backlog()
                if backlog is not None and backlog.records:
                    self._spilling = True
                    log.info(
                        "sink %s: replaying %d records spooled by a previous run",
                        self.sink.name,
                        backlog.records,
                    )
        self._thread.start()

    def offer(self, record: Record, token: int | None = None) -> bool:
        """Queue a record without waiting for the sink: memory if there is room and no backlog, else the
        spool; ``False`` if it had to be dropped (counted and logged)."""
        with self._lock:
            if not self._spilling:
                try:
                    self._queue.put_nowait((record, token))
                    return True
                except queue.Full:
                    pass
            return self._spill_locked("overflow", [(record, token)], "queue_full") == 1

    def commit(self) -> None:
        """Sync what ``offer`` spooled (``fsync`` mode), then release its tokens. The builder calls this
        when it runs out of work, so one fsync covers many records."""
        with self._lock:
            if not self._unsynced:
                return
            tokens, self._unsynced = self._unsynced, []
            if self._backlog is not None:
                self._sync_locked()
        self._done(tokens)

    def depth(self) -> int:
        """Records held in memory."""
        return self._queue.qsize()

    def backlog(self) -> tuple[int, int]:
        """``(records, bytes)`` of the on-disk spool."""
        b = self._backlog
        return (b.records, b.size_bytes) if b is not None else (0, 0)

    @property
    def thread(self) -> threading.Thread:
        """The worker's thread (health probes watch it)."""
        return self._thread

    def health(self) -> SinkHealth:
        """The sink's own health, unless it is blocked: then what a person has to do."""
        blocked = self.blocked.detail()
        if blocked is not None:
            return SinkHealth(False, blocked)
        try:
            return self.sink.health()
        except Exception as e:  # a health probe must never take the service down
            return SinkHealth(False, f"health check failed: {e}")

    def stop(self, timeout: float) -> None:
        """Deliver what is in memory (or spool it), then replay the spool while the sink accepts writes,
        all within ``timeout``; then flush and close the sink. What is left on disk waits for the next
        start."""
        self._deadline = time.monotonic() + timeout * 0.9
        self._stopping.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            left = self._queue.qsize()
            self.metrics.dropped.labels(self.sink.name, "shutdown_timeout").inc(left)
            log.error("sink %s did not drain within %.0fs: %d records not delivered", self.sink.name, timeout, left)
        try:
            self.sink.flush()
            self.sink.close()
        except Exception as e:
            log.error("closing sink %s failed: %s", self.sink.name, e)

    # -- the worker thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._take(block=not self._spilling)
            if batch:
                if self._stopping.is_set() and time.monotonic() > self._deadline and self.spool:
                    self._spill_failed(batch, "shutdown deadline reached")
                else:
                    self._deliver(batch)
            elif not stop and self._spilling:
                self._replay_batch()
        # shutting down: keep replaying (and probing a refusing sink) until the spool is empty or time is up
        while self._spilling and time.monotonic() < self._deadline:
            if not self._replay_batch():
                if self.blocked.current is not None:
                    break  # nobody fixes it within a shutdown: the spool waits for the next start
                time.sleep(max(0.0, min(self._probe, self._deadline - time.monotonic())))
        self.commit()
        if self._backlog is not None:
            left = self._backlog.records
            if left:
                log.warning("sink %s: %d records stay spooled until the next start", self.sink.name, left)
            self._backlog.close()

    def _take(self, block: bool) -> tuple[list[Item], bool]:
        try:
            first = self._queue.get() if block else self._queue.get_nowait()
        except queue.Empty:
            return [], False
        if first is _STOP:
            return [], True
        batch: list[Item] = [first]  # type: ignore[list-item]
        deadline = time.monotonic() + (self.linger if block else 0.0)
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)  # type: ignore[arg-type]
        return batch, False

    def _write(self, records: list[Record]) -> SinkError | None:
        """One write attempt, timed; the error (anything else wrapped in a non-retriable ``SinkError``) or ``None``."""
        start = time.perf_counter()
        try:
            self.sink.write(records)
        except SinkError as e:
            return e
        except Exception as e:
            err = SinkError(f"{type(e).__name__}: {e}", retriable=False)
            err.__cause__ = e
            return err
        self.metrics.batch_seconds.labels(self.sink.name).observe(time.perf_counter() - start)
        self.metrics.batch_size.labels(self.sink.name).observe(len(records))
        return None

    def _attempt(self, items: list[Item], ledger: ReplayLedger | None = None) -> tuple[list[Item], SinkError | None]:
        """Write ``items`` so that no record fails its neighbours (module doc, rules in ``triage``). Returns the
        items still to write — refused for a passing reason or by a blocked destination, smaller forms in place —
        and the sink's error. ``ledger`` (replay) learns what became of each record."""
        records = [r for r, _ in items]
        err = self._write(records)
        if err is None:
            self._written(items, ledger)
            self.blocked.clear()
            return [], None
        verdict = triage(records, err)
        if verdict.isolate:  # one at a time: the culprit is found, its neighbours written
            left: list[Item] = []
            for item in items:
                rest, single_err = self._attempt([item], ledger)
                left.extend(rest)
                err = single_err or err
            return left, err if left else None
        self._written([items[p] for p in verdict.written], ledger)
        for pos, why in verdict.unwritable.items():
            self._drop_unwritable(items[pos], why, ledger)
        shrunk = {pos: (s.record, items[pos][1]) for pos, s in verdict.smaller.items()}
        for pos, s in verdict.smaller.items():
            self._smaller(records[pos], s.record, s.reason, ledger)
        if verdict.block is not None:
            self.blocked.set(verdict.block)
        elif verdict.written:
            self.blocked.clear()
        if not verdict.again:
            self.metrics.sink_up.labels(self.sink.name).set(1)
            return self._attempt(list(shrunk.values()), ledger) if shrunk else ([], None)
        self.metrics.sink_errors.labels(self.sink.name).inc()
        self.metrics.sink_up.labels(self.sink.name).set(0)
        again = {pos: items[pos] for pos in verdict.again} | shrunk  # smaller forms wait with them, in batch order
        return [again[pos] for pos in sorted(again)], err

    def _written(self, items: list[Item], ledger: ReplayLedger | None) -> None:
        if not items:
            return
        self.metrics.written.labels(self.sink.name).inc(len(items))
        self.metrics.sink_up.labels(self.sink.name).set(1)
        self._probe = self.retry_backoff
        if ledger is not None:
            for r, _ in items:
                ledger.settled(r)
        self._done([t for _, t in items if t is not None])

    def _smaller(self, record: Record, form: Record, reason: str, ledger: ReplayLedger | None) -> None:
        """Count a record refused whole the first time it is (its later forms are the same record)."""
        if not is_reduced(record):
            self.metrics.reduced.labels(self.sink.name, reason).inc()
            self._log_throttled(
                "reduced:" + reason,
                logging.WARNING,
                "sink %s: record %s refused whole (%s); writing a smaller form",
                self.sink.name,
                record.id,
                reason,
            )
        if ledger is not None:
            ledger.replaced(record, form)

    def _drop_unwritable(self, item: Item, why: str, ledger: ReplayLedger | None) -> None:
        record, token = item
        self.metrics.dropped.labels(self.sink.name, "unwritable").inc()
        if ledger is not None:
            ledger.settled(record)
        now = time.monotonic()
        start, lines = self._drop_lines
        if now - start > 1.0:
            start, lines = now, 0
        self._drop_lines = (start, lines + 1)
        if lines < _DROP_LINES_PER_SECOND:  # every id is worth a line, within reason
            log.error(
                "sink %s: dropped record %s, refused even in its smallest form: %s", self.sink.name, record.id, why
            )
        if token is not None:
            self._done([token])

    def _deliver(self, batch: list[Item]) -> None:
        name = self.sink.name
        items = batch
        attempt = 0
        while True:
            items, err = self._attempt(items)
            if not items or err is None:
                return
            blocked = self.blocked.current is not None
            if (
                attempt >= self.max_retries
                or (blocked and self.spool is not None)
                or (self._stopping.is_set() and self.spool is not None)
            ):
                why = f"blocked ({self.blocked.current.reason})" if self.blocked.current else str(err)
                self._spill_failed(items, why, "sink_blocked" if blocked else "sink_error")
                return
            delay = min(self.retry_backoff * (2**attempt), 5.0)
            log.warning("sink %s: write failed (%s); retry %d in %.2fs", name, err, attempt + 1, delay)
            attempt += 1
            if self.spool is None:
                time.sleep(delay)
            else:  # a stop cuts the pause short: the batch then goes to the spool
                self._stopping.wait(delay)

    def _spill_failed(self, batch: list[Item], why: str, no_spool_reason: str = "sink_error") -> None:
        """Move a failing batch and the rest of the memory queue to the ``retry`` lane, in order."""
        if self.spool is None:
            self._drop(batch, no_spool_reason, why)
            return
        stop_seen = False
        with self._lock:
            items = list(batch)
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop_seen = True
                    continue
                items.append(item)  # type: ignore[arg-type]
            n = self._spill_locked("retry", items, "sink_error")
        if stop_seen:
            self._queue.put(_STOP)  # the queue is empty now: this never blocks
        self.commit()
        self._log_throttled(
            "spill", logging.WARNING, "sink %s: %s; %d records spooled for replay", self.sink.name, why, n
        )

    def _replay_batch(self) -> bool:
        """Deliver one batch from the spool; ``False`` when the sink refused it (after a probe pause) or
        nothing is left."""
        backlog = self._backlog
        if backlog is None:
            self._spilling = False
            return False
        lane, frames = self._read(backlog)
        if not frames:
            with self._lock:
                if backlog.records == 0:
                    self._spilling = False
                    return False
            backlog.rewind()  # should not happen: read again from the cursor, without spinning
            self._stopping.wait(0.01)
            return True
        items: list[Item] = []
        readable = 0
        for seq, payload in frames:
            try:
                record = decode_record(payload)
            except Exception as e:
                self.metrics.dropped.labels(self.sink.name, "spool_error").inc()
                log.error("sink %s: unreadable spooled record %d dropped: %s", self.sink.name, seq, e)
                continue
            readable += 1
            todo = self._ledger.read(seq, record)  # a batch read again: skip what is settled, use smaller forms
            if todo is not None:
                items.append((todo, None))
        left, err = self._attempt(items, self._ledger) if items else ([], None)
        if not left or err is None:
            self._ack(backlog, lane, frames)
            self._ledger.clear()
            self.metrics.spool_replayed.labels(self.sink.name).inc(readable)
            return True
        backlog.rewind()
        blocked = self.blocked.current is not None
        pause = self.blocked.probe if blocked else self._probe
        if not blocked:
            self._log_throttled(
                "probe",
                logging.WARNING,
                "sink %s still failing (%s); %d records spooled, next try in %.1fs",
                self.sink.name,
                err,
                backlog.records,
                pause,
            )
            self._probe = min(self._probe * 2, self.probe_max)
        self._stopping.wait(pause)
        return False

    def _read(self, backlog: SinkBacklog) -> tuple[Lane, list[tuple[int, bytes]]]:
        try:
            return backlog.read(self.batch_size)
        except SpoolError as e:  # corrupt frame mid-file: skip the rest of that lane's backlog
            log.error("sink %s: %s; the unreadable rest of the spool is dropped", self.sink.name, e)
            with self._lock:
                for spool in backlog.lanes.values():
                    lost = spool.records
                    self.metrics.dropped.labels(self.sink.name, "spool_error").inc(lost)
                    spool.ack_through(2**62)
            return "overflow", []

    def _ack(self, backlog: SinkBacklog, lane: Lane, frames: list[tuple[int, bytes]]) -> None:
        with self._lock:
            backlog.ack(lane, frames)
            if backlog.records == 0:
                self._spilling = False

    # -- spooling (with _lock held) ------------------------------------------------------------------
    def _open_backlog(self) -> SinkBacklog | None:
        if self._backlog is None and self.spool is not None and not self._backlog_failed:
            try:
                self._backlog = SinkBacklog(
                    self.spool.directory,
                    max_bytes=self.spool.max_bytes,
                    fsync=self.spool.fsync,
                    segment_bytes=self.spool.segment_bytes,
                )
            except (InferwatchError, OSError) as e:
                self._backlog_failed = True
                log.error("sink %s: cannot open spool %s: %s", self.sink.name, self.spool.directory, e)
        return self._backlog

    def _spill_locked(self, lane: Lane, items: list[Item], no_spool_reason: str) -> int:
        """Append items to a lane; tokens wait in ``_unsynced`` for ``commit``. The number spooled."""
        backlog = self._open_backlog()
        if backlog is None:
            reason = no_spool_reason if self.spool is None else "spool_error"
            self._drop(items, reason, "no usable spool")
            return 0
        n = 0
        for record, token in items:
            try:
                self._append(backlog, lane, record)
                n += 1
                self._spilling = True
            except SpoolFull as e:
                self._count_drop("spool_full", 1, str(e))
            except TypeError as e:
                self._drop_unwritable((record, None), f"unserialisable: {e}", None)
            except (SpoolError, OSError) as e:
                self._count_drop(write_failure(e), 1, str(e))
            if token is not None:
                self._unsynced.append(token)
        return n

    def _append(self, backlog: SinkBacklog, lane: Lane, record: Record) -> None:
        """Spool ``record``, or its first smaller form that can be serialised; ``TypeError`` if none can."""
        form = record
        while True:
            try:
                backlog.append(lane, form)
                return
            except TypeError:
                step = smaller(form)
                if step is None:
                    raise
                self._smaller(form, step[0], "unserialisable", None)
                form = step[0]

    def _sync_locked(self) -> None:
        assert self._backlog is not None
        try:
            self._backlog.sync()
        except OSError as e:  # nothing more can be promised; count it once per failure
            log.error("sink %s: fsync of the spool failed: %s", self.sink.name, e)

    # -- drops and acks ------------------------------------------------------------------------------
    def _drop(self, items: list[Item], reason: str, why: str) -> None:
        self._count_drop(reason, len(items), why)
        self._done([t for _, t in items if t is not None])

    def _count_drop(self, reason: str, n: int, why: str) -> None:
        self.metrics.dropped.labels(self.sink.name, reason).inc(n)
        self._log_throttled(
            reason, logging.ERROR, "sink %s: dropped %d record(s) (%s): %s", self.sink.name, n, reason, why
        )

    def _done(self, tokens: Sequence[int]) -> None:
        if tokens and self._on_done is not None:
            self._on_done(tokens)

    def _log_throttled(self, key: str, level: int, msg: str, *args: object) -> None:
        """One line per key per 5 s; the metrics count every event."""
        now = time.monotonic()
        if now - self._last_log.get(key, 0.0) > 5.0:
            self._last_log[key] = now
            log.log(level, msg, *args)

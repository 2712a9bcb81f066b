"""The write-ahead log of ``--durability sync``: raw items are on disk before the caller is answered.

``submit`` enqueues an item and returns a ``concurrent.futures.Future``. One writer thread takes every
item waiting (up to ``group_max``), appends them to the spool, makes them durable with one ``fdatasync``
(group commit: concurrent requests share it) and resolves their futures with ``True``; then it hands each
``(seq, item)`` to the pipeline. A full or failing log resolves ``False`` (counted as dropped, sink
``wal``). An entry is acknowledged once every sink has written or spooled (and synced) its record
(``AckTracker``); on start, entries never acknowledged by the previous run are handed over again before
anything new (at-least-once: sinks are idempotent per record id).
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from inferwatch.delivery.metrics import WAL_DROPS, DeliveryMetrics
from inferwatch.delivery.spool import Spool, SpoolError, write_failure

log = logging.getLogger("inferwatch.delivery.wal")

T = TypeVar("T")
WAL = "wal"
_STOP = object()


class AckTracker:
    """Counts, per log entry, the sinks that still have to write or spool it; acks the entry at zero."""

    def __init__(self, spool: Spool, fanout: int) -> None:
        self.spool = spool
        self.fanout = fanout
        self._pending: dict[int, int] = {}
        self._lock = threading.Lock()

    def expect(self, seq: int) -> None:
        with self._lock:
            self._pending[seq] = self.fanout

    def expand(self, seq: int, records: int) -> None:
        """The entry was built into ``records`` records: every sink finishes each of them before the ack."""
        with self._lock:
            if seq in self._pending:
                self._pending[seq] *= records

    def done(self, seqs: Sequence[int]) -> None:
        """One sink finished with each of ``seqs``."""
        ready: list[int] = []
        with self._lock:
            for s in seqs:
                left = self._pending.get(s)
                if left is None:
                    continue
                if left <= 1:
                    del self._pending[s]
                    ready.append(s)
                else:
                    self._pending[s] = left - 1
        if ready:
            self.spool.ack(ready)

    def finish(self, seq: int) -> None:
        """No sink will see this entry (e.g. its record could not be built): ack it now."""
        with self._lock:
            self._pending.pop(seq, None)
        self.spool.ack([seq])

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)


class WriteAheadLog(Generic[T]):
    """Group-committing writer of one spool; ``deliver(seq, item)`` passes durable items on (it may
    block: that is the back-pressure of sync mode)."""

    def __init__(
        self,
        spool: Spool,
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
        deliver: Callable[[int, T], None],
        metrics: DeliveryMetrics,
        group_max: int = 512,
    ) -> None:
        self.spool = spool
        self._encode = encode
        self._decode = decode
        self._deliver = deliver
        self.metrics = metrics
        metrics.expose_drops(WAL, WAL_DROPS)
        self.group_max = group_max
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._last_log = 0.0
        self._thread = threading.Thread(target=self._run, name="write-ahead-log", daemon=True)
        metrics.spool_records.labels(WAL).set_function(lambda: spool.records)
        metrics.spool_bytes.labels(WAL).set_function(lambda: spool.size_bytes)

    def start(self) -> None:
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The writer thread (health probes watch it)."""
        return self._thread

    def submit(self, item: T) -> concurrent.futures.Future[bool]:
        """Resolved ``True`` once ``item`` is on disk (synced), ``False`` if it could not be logged."""
        fut: concurrent.futures.Future[bool] = concurrent.futures.Future()
        if self._closed:
            fut.set_result(False)
        else:
            self._queue.put((item, fut))
        return fut

    def stop(self) -> None:
        """Log and hand over everything submitted so far."""
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()

    def close(self) -> None:
        self.spool.close()

    def _run(self) -> None:
        self._replay()
        stop = False
        while not stop:
            batch: list[tuple[T, concurrent.futures.Future[bool]]] = []
            entry = self._queue.get()
            while entry is not _STOP:
                batch.append(entry)  # type: ignore[arg-type]
                if len(batch) >= self.group_max:
                    break
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
            stop = entry is _STOP
            if batch:
                self._commit(batch)
        while True:  # submitted after stop() began: answered, not logged
            try:
                late = self._queue.get_nowait()
            except queue.Empty:
                return
            if late is not _STOP:
                late[1].set_result(False)  # type: ignore[index]

    def _commit(self, batch: list[tuple[T, concurrent.futures.Future[bool]]]) -> None:
        logged: list[tuple[int, T, concurrent.futures.Future[bool]]] = []
        for item, fut in batch:
            try:
                logged.append((self.spool.append(self._encode(item)), item, fut))
            except Exception as e:
                self._drop(write_failure(e), str(e))
                fut.set_result(False)
        try:
            self.spool.sync()
            ok = True
        except OSError as e:
            ok = False
            self._drop(write_failure(e), f"fsync failed: {e}")
        for _, _, fut in logged:
            fut.set_result(ok)
        for seq, item, _ in logged:
            self._deliver(seq, item)

    def _replay(self) -> None:
        total = self.spool.records
        if not total:
            return
        log.warning("write-ahead log: re-submitting %d entries not acknowledged by the last run", total)
        while True:
            try:
                frames = self.spool.read(self.group_max)
            except SpoolError as e:
                log.error("write-ahead log: %s; the rest of the log is skipped", e)
                return
            if not frames:
                return
            for seq, payload in frames:
                try:
                    item = self._decode(payload)
                except Exception as e:
                    log.error("write-ahead log: unreadable entry %d skipped: %s", seq, e)
                    self.spool.ack([seq])
                    continue
                self._deliver(seq, item)
                self.metrics.spool_replayed.labels(WAL).inc()

    def _drop(self, reason: str, why: str) -> None:
        self.metrics.dropped.labels(WAL, reason).inc()
        now = time.monotonic()
        if now - self._last_log > 5.0:
            self._last_log = now
            log.error("write-ahead log: exchange not logged (%s): %s", reason, why)

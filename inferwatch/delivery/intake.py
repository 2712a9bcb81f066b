"""The pipeline's intake: a bounded memory queue in front of the record builder and, with a spool, an on-disk
intake spool behind it, so a builder that falls behind never makes the prediction path drop.

Order. The intake is one FIFO whose head is in memory and whose tail may be on disk:

- ``offer`` (the prediction path, any thread) puts an entry in the memory queue, unless the queue is full or
  the disk holds a backlog: then the entry is encoded and appended to the intake spool. So what is on disk is
  always newer than what is in memory, and nothing enters memory while the disk has a backlog.
- ``take`` (the builder thread) drains memory first, then the spool, ``CHUNK`` frames at a time. A chunk is
  acknowledged as it is read: from then on it is in memory, like the queue. Once the spool and the chunk are
  empty, the intake is memory only again.

The order holds for every submitting thread; entries handed over by several threads at once have none among
themselves anyway. ``put`` (the write-ahead log's hand-over of ``--durability sync``, the stop marker) always
goes to memory and may wait: those entries are not part of that FIFO (the write-ahead log keeps its own).

Cost on the prediction path: normally one ``put_nowait`` after reading one flag; while spilling, one encode and
one buffered ``write(2)`` (no fsync: the page cache) under a lock, never a wait for the builder.

Frames (``inferwatch.delivery.spool``): a tag byte, then ``E`` + the pipeline's item codec (the logger's raw
``Exchange``, ``exchange_codec``) or ``R`` + a built record's JSON (``submit_record``: detector and explainer
results). The spool is bounded by ``max_bytes``; when it is full an entry is dropped, counted in
``inferwatch_records_dropped_total{sink="intake",reason="spool_full"}`` and logged. A backlog left by a previous
run (its stop deadline passed, or it crashed) is replayed before anything new.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from inferwatch.delivery.metrics import INTAKE_DROPS, DeliveryMetrics
from inferwatch.delivery.spool import Spool, SpoolError, SpoolFull, write_failure
from inferwatch.errors import InferwatchError

log = logging.getLogger("inferwatch.delivery")

INTAKE = "intake"
"""The intake's label in the delivery metrics (``sink="intake"``, ``queue="intake"``) and its spool's directory."""
CHUNK = 16
"""Frames read from the spool at a time: bounds how long a read holds the spool (and a spilling ``offer``) up."""

Encode = Callable[[object], bytes | None]
"""An entry as a spool frame's payload; ``None`` when it cannot be spooled (it is dropped as ``queue_full``)."""
Decode = Callable[[bytes], object]


class Intake:
    """Bounded memory queue + intake spool (see module doc). ``directory=None``: memory only."""

    def __init__(
        self,
        size: int,
        metrics: DeliveryMetrics,
        *,
        directory: Path | None = None,
        max_bytes: int = 0,
        encode: Encode | None = None,
        decode: Decode | None = None,
    ) -> None:
        self.metrics = metrics
        self.directory = directory if max_bytes > 0 and encode is not None and decode is not None else None
        self.max_bytes = max_bytes
        self._encode = encode
        self._decode = decode
        self._queue: queue.Queue[object] = queue.Queue(maxsize=size)
        self._lock = threading.Lock()  # guards _spilling, _spool and spool appends against take()
        self._spilling = False
        self._spool: Spool | None = None
        self._unusable = False  # the spool could not be opened, or is closed
        self._replay: collections.deque[object] = collections.deque()
        self._full_since: float | None = None
        self._last_log: dict[str, float] = {}
        metrics.expose_drops(INTAKE, INTAKE_DROPS)
        metrics.queue_depth.labels(INTAKE).set_function(self.depth)
        metrics.spool_records.labels(INTAKE).set_function(lambda: self.backlog()[0])
        metrics.spool_bytes.labels(INTAKE).set_function(lambda: self.backlog()[1])

    # -- the prediction path -------------------------------------------------------------------------
    def offer(self, entry: object) -> bool:
        """Hand over without waiting: memory if it has room and the disk no backlog, else the spool. ``False``
        if the entry was dropped (counted and logged)."""
        if not self._spilling:
            try:
                self._queue.put_nowait(entry)
                return True
            except queue.Full:
                if self.directory is None:
                    return self._drop("queue_full", f"intake queue full ({self._queue.maxsize}), no spool")
        with self._lock:
            if not self._spilling:  # the builder may have made room, or emptied the spool, meanwhile
                try:
                    self._queue.put_nowait(entry)
                    return True
                except queue.Full:
                    pass
            return self._spill_locked(entry)

    def put(self, entry: object, timeout: float | None = None) -> bool:
        """Put ``entry`` in memory, waiting for room (at most ``timeout`` seconds); ``False`` if there was none."""
        try:
            self._queue.put(entry, timeout=timeout)
        except queue.Full:
            return False
        return True

    # -- the builder ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Pick up a backlog left on disk by a previous run: it is taken before anything offered from now on."""
        if self.directory is None or not Spool.has_data(self.directory):
            return
        with self._lock:
            spool = self._open_locked()
            if spool is not None and spool.records:
                self._spilling = True
                log.warning("intake: replaying %d items spooled by a previous run", spool.records)

    def take(self, block: bool = True) -> object | None:
        """The next entry: memory first, then the spool. Waits while both are empty (``block``), else ``None``."""
        while True:
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                pass
            try:
                return self._replay.popleft()
            except IndexError:
                pass
            if self._spilling and self._refill():
                continue
            if not block:
                return None
            if not self._spilling:
                # memory is empty and the disk has no backlog: a spill needs a full queue first, so this wakes up
                return self._queue.get()

    def idle(self) -> bool:
        """Nothing waiting, in memory or on disk."""
        return self._queue.empty() and not self._replay and not self._spilling

    def depth(self) -> int:
        """Entries held in memory (the queue and the chunk read back from the spool)."""
        return self._queue.qsize() + len(self._replay)

    def backlog(self) -> tuple[int, int]:
        """``(entries, bytes)`` of the intake spool."""
        spool = self._spool
        return (spool.records, spool.size_bytes) if spool is not None else (0, 0)

    def has_room(self) -> bool:
        """Whether an entry offered now would be accepted: the memory queue has room, or the spool (no spool
        refused an entry for being full since it last fell below 90 % of its bound)."""
        if self.directory is None or self._unusable:
            return not self._queue.full()
        if self._full_since is not None and self.backlog()[1] < 0.9 * self.max_bytes:
            self._full_since = None
        return self._full_since is None

    def abandon(self, lost: Callable[[object], bool]) -> int:
        """Shutting down past the deadline: empty memory (the queue and the chunk read back from the spool) so
        nothing in it is delivered late; how many of its entries ``lost`` says are lost. The spool is kept."""
        n = sum(map(lost, self._replay))
        self._replay.clear()
        while True:
            try:
                n += lost(self._queue.get_nowait())
            except queue.Empty:
                return n

    def close(self) -> int:
        """Close the spool (what is on it waits for the next start); later spills are dropped. Returns the
        number of entries left on disk."""
        with self._lock:
            self._unusable = True
            spool, self._spool = self._spool, None
            left = spool.records if spool is not None else 0
            if spool is not None:
                spool.close()
            self._spilling = False
        return left

    # -- internals -----------------------------------------------------------------------------------
    def _refill(self) -> bool:
        """Read the next chunk from the spool into memory; ``False`` (and memory only again) when it is empty."""
        spool = self._spool
        if spool is None:
            self._spilling = False
            return False
        try:
            frames = spool.read(CHUNK)
        except SpoolError as e:  # a corrupt frame mid-file: the rest of the spool cannot be read in order
            with self._lock:
                lost = spool.records
                spool.ack_through(2**62)
            self._count_drop("spool_error", lost, f"{e}; the unreadable rest of the intake spool is dropped")
            return True
        if not frames:
            with self._lock:
                if spool.records == 0:
                    self._spilling = False
                    return False
            spool.rewind()  # should not happen: read again from the cursor
            return True
        spool.ack_through(frames[-1][0])
        assert self._decode is not None
        for seq, payload in frames:
            try:
                self._replay.append(self._decode(payload))
            except Exception as e:
                self._count_drop("spool_error", 1, f"unreadable intake spool entry {seq}: {e}")
        self.metrics.spool_replayed.labels(INTAKE).inc(len(self._replay))
        return True

    def _open_locked(self) -> Spool | None:
        if self._spool is None and self.directory is not None and not self._unusable:
            try:
                self._spool = Spool(self.directory, max_bytes=self.max_bytes)
            except (InferwatchError, OSError) as e:
                self._unusable = True
                log.error("intake: cannot open the intake spool %s: %s", self.directory, e)
        return self._spool

    def _spill_locked(self, entry: object) -> bool:
        spool = self._open_locked()
        if spool is None:
            return self._drop("queue_full", "intake queue full and no usable intake spool")
        assert self._encode is not None
        try:
            payload = self._encode(entry)
        except Exception as e:
            return self._drop("spool_error", f"cannot encode for the intake spool: {e}")
        if payload is None:
            return self._drop("queue_full", "intake queue full; this item cannot be spooled")
        try:
            spool.append(payload)
        except SpoolFull as e:
            self._full_since = self._full_since or time.monotonic()
            return self._drop("spool_full", str(e).replace("spool", "intake spool", 1))
        except (SpoolError, OSError) as e:
            return self._drop(write_failure(e), f"cannot write to the intake spool: {e}")
        self._spilling = True
        return True

    def _drop(self, reason: str, why: str) -> bool:
        self._count_drop(reason, 1, why)
        return False

    def _count_drop(self, reason: str, n: int, why: str) -> None:
        """Count every drop; log one line per reason per 5 s."""
        self.metrics.dropped.labels(INTAKE, reason).inc(n)
        now = time.monotonic()
        if now - self._last_log.get(reason, 0.0) > 5.0:
            self._last_log[reason] = now
            log.warning("intake: dropping records (%s): %s", reason, why)

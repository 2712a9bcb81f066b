"""The indexer loop shared by ``inferwatch consume index`` (a consumer-group member) and ``consume replay``.

Per batch: poll, decode every message (``inferwatch.sources.decoder``: the logger's records, Seldon's halves
paired, Seldon's errors), write the records into every sink until each has them (``consumers.writer``: passing
failures are tried again, nothing is committed meanwhile), send what cannot be decoded to the dead-letter topic,
then commit. Writing runs on a thread of its own, one batch behind: while batch N is written, batch N+1 is polled
and decoded; N is committed once written, before N+1 is handed over (the Kafka client stays on the loop's thread;
while a write waits on a failing sink, the loop keeps polling one message and seeking back, so the group keeps the
member and a rebalance completes).
A crash anywhere before a commit delivers the batch again; sinks write by record id, so a batch written twice is
stored once.

Commits are per partition: the next offset after the last message handled, but never past a Seldon half still
waiting for its partner (``MessageDecoder.holding``) — that half is in no sink yet. When partitions are revoked
(a rebalance), the halves read from them are forgotten: their new owner reads them again from the committed
offset. A replay (``commit=False``) commits nothing and belongs to no group.

Lag (``inferwatch_consumer_lag``) is each held partition's end offset minus what this member committed (for a
replay: its position), refreshed after every batch: it is what a restart would have to read again.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from inferwatch.consumers.deadletters import DeadLetter, DeadLetters
from inferwatch.consumers.metrics import ConsumerMetrics
from inferwatch.consumers.writer import DEFAULT_BACKOFF, Backoff, Stopped, write_all
from inferwatch.results import Record
from inferwatch.sinks import Sink
from inferwatch.sources.decoder import MessageDecoder, Partition
from inferwatch.sources.formats import Undecodable
from inferwatch.sources.kafka import PollWatch
from inferwatch.sources.messages import Message

log = logging.getLogger("inferwatch.consumers")

KEEPALIVE_POLL_MS = 1000
"""How long a keepalive poll may wait (``Indexer._keepalive``): enough for a rebalance's join and sync rounds."""


class Indexer:
    """Consumed messages → records → sinks, committed after the sinks acknowledged them (module doc)."""

    def __init__(
        self,
        consumer: Any,
        sinks: Sequence[Sink],
        decoder: MessageDecoder,
        metrics: ConsumerMetrics,
        *,
        dead_letters: DeadLetters | None = None,
        commit: bool = True,
        batch: int = 500,
        backoff: Backoff = DEFAULT_BACKOFF,
        more_writers: Sequence[Sequence[Sink]] = (),
    ) -> None:
        self.consumer = consumer
        self.sinks = list(sinks)
        sets = [self.sinks, *(list(x) for x in more_writers)]
        self.sink_sets: list[list[Sink]] = sets
        """One set of sinks per writer thread: ``sinks``, then ``more_writers`` (that many batches are written at
        once, each through sink instances of its own — a sink is driven by one thread)."""
        self.decoder = decoder
        self.metrics = metrics
        self.dead_letters = dead_letters
        self.commit_offsets = commit
        self.batch = batch
        self.backoff = backoff
        self.handled = 0
        self.dead_lettered = 0
        """Messages (and unwritable records) dead-lettered so far."""
        self.undelivered_dead_letters = 0
        """Dead letters without a dead-letter topic (``dead_letters=None``): counted and logged only."""
        self.stop_at: dict[Partition, int] | None = None
        """A replay's end: per partition, the first offset not to handle (messages from it on are ignored)."""
        self._next: dict[Partition, int] = {}
        self._committed: dict[Partition, int] = {}
        self._revoked: set[Partition] = set()
        self._written: dict[Partition, int] = {}
        """How far a commit may go: the committable offsets of the last batch written."""
        self._inflight: deque[tuple[Future[None], dict[Partition, int]]] = deque()
        self._free: queue.SimpleQueue[list[Sink]] = queue.SimpleQueue()
        for sink_set in sets:
            self._free.put(sink_set)
        self._writer = ThreadPoolExecutor(max_workers=len(sets), thread_name_prefix="indexer-write")
        self._stop: threading.Event | None = None

    # -- the loop ---------------------------------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        watch: PollWatch | None = None,
        *,
        idle_timeout: float | None = None,
        done: Callable[[], bool] | None = None,
        on_batch: Callable[[int], object] | None = None,
    ) -> int:
        """Batches until ``stop`` is set, ``done()`` says so, or nothing arrived for ``idle_timeout`` seconds;
        then the batch in flight is finished and committed, and the halves still waiting are written as partial
        records (a replay) or left to the next start (a group member: not committed). Returns how many messages
        were handled."""
        self._stop = stop
        idle_since = time.monotonic()
        try:
            while not stop.is_set() and not (done is not None and done()):
                n = self.step(watch)
                if n:
                    idle_since = time.monotonic()
                    if on_batch is not None:
                        on_batch(n)
                elif idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                    break
            self.finish()
            if not self.commit_offsets and not stop.is_set():
                self.write(self.decoder.flush())
        except Stopped:  # asked to stop while a sink was failing: a clean stop, what was not written is not committed
            log.info("stopped with batches not written yet; they are read again from the committed offsets")
        finally:
            self._writer.shutdown(wait=False)
        return self.handled

    def step(self, watch: PollWatch | None = None) -> int:
        """One poll, its messages decoded and handed to a writer thread (waiting first for the oldest batch in flight
        when every writer is busy); written batches are committed in order. Returns how many messages the poll
        brought. Decoding overlaps writing: at most ``writers`` + 1 batches are in memory, and the consumer is used
        on this thread only."""
        self._reap()  # commit what was written before polling: a rebalance happens inside poll
        polled = self.consumer.poll(timeout_ms=500, max_records=self.batch)
        if watch is not None:
            watch.polled(self.consumer)
        messages = [Message.from_kafka(m) for msgs in polled.values() for m in msgs]
        if self.stop_at is not None:
            limit = self.stop_at
            messages = [m for m in messages if m.offset < limit.get((m.topic, m.partition), m.offset + 1)]
        records: list[Record] = []
        dead: list[DeadLetter] = []
        for m in messages:
            try:
                records.extend(self.decoder.feed(m))
            except Undecodable as e:
                dead.append(DeadLetter.of_message(m, e.reason, e.message))
            self._next[(m.topic, m.partition)] = m.offset + 1
        for topic, n in Counter(m.topic for m in messages).items():
            self.metrics.consumed.labels(self.metrics.group, topic).inc(n)
        records.extend(self.decoder.expire())
        committable = self.safe_offsets()  # once this batch (and every one before it) is written
        self._reap()
        while len(self._inflight) >= len(self.sink_sets):
            self._finish_oldest()
        if records or dead:
            self._inflight.append((self._writer.submit(self._write_with_free_sinks, records, dead), committable))
        elif not self._inflight:
            self._written = committable
            if self.commit_offsets:
                self.commit()
        self.handled += len(messages)
        self.update_lag()
        return len(messages)

    def finish(self) -> None:
        """Wait for every batch in flight to be written, committing each in order (``_finish_oldest``)."""
        while self._inflight:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        """Wait for the oldest batch in flight to be written (``_keepalive`` meanwhile, so the group keeps this
        member), then commit it. Re-raises what the write raised (``Stopped``): nothing of it
        is committed."""
        future, committable = self._inflight[0]
        while True:
            try:
                future.result(timeout=5.0)
                break
            except FutureTimeout:
                self._keepalive()
                self.update_lag()  # the topic keeps growing while a sink fails: the lag alert must see it
        self._inflight.popleft()
        self._written = committable
        if self.commit_offsets:
            self.commit()

    def _reap(self) -> None:
        """Commit the batches written so far, oldest first, up to the first one still being written."""
        done = False
        while self._inflight and self._inflight[0][0].done():
            self._inflight[0][0].result()  # re-raises a failed write
            self._written = self._inflight.popleft()[1]
            done = True
        if done and self.commit_offsets:
            self.commit()

    def _write_with_free_sinks(self, records: list[Record], dead: list[DeadLetter]) -> None:
        sinks = self._free.get()
        try:
            self.write(records, dead, sinks)
        finally:
            self._free.put(sinks)

    def write(
        self, records: list[Record], dead: list[DeadLetter] | None = None, sinks: Sequence[Sink] | None = None
    ) -> None:
        """Every record into every sink (``consumers.writer``; ``sinks``: a writer's own set, default the first),
        then the dead letters, those of unwritable records included."""
        letters = list(dead or [])
        for sink in self.sinks if sinks is None else sinks:
            if not records:
                break
            written, unwritable = write_all(
                sink,
                records,
                stop=self._stop,
                backoff=self.backoff,
                on_retry=self._retry_counter(sink.name),
            )
            self.metrics.written.labels(self.metrics.group, sink.name).inc(written)
            letters.extend(DeadLetter.of_record(u.record, "unwritable", f"{sink.name}: {u.reason}") for u in unwritable)
        if letters:
            self._dead_letter(letters)

    def _retry_counter(self, sink: str) -> Callable[[str], None]:
        def count(reason: str) -> None:
            self.metrics.write_retries.labels(self.metrics.group, sink, reason).inc()

        return count

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        self.dead_lettered += len(letters)
        for letter in letters:
            self.metrics.dead_lettered.labels(self.metrics.group, letter.reason).inc()
        if self.dead_letters is not None:
            self.dead_letters.send(letters, self._stop)
            return
        self.undelivered_dead_letters += len(letters)
        for letter in letters:
            log.error("not usable (%s), and no dead-letter topic: %s", letter.reason, letter.error)

    # -- offsets ----------------------------------------------------------------------------------------------

    def safe_offsets(self) -> dict[Partition, int]:
        """Per partition, how far a commit may go now (module doc)."""
        holding = self.decoder.holding()
        return {tp: min(nxt, holding.get(tp, nxt)) for tp, nxt in self._next.items()}

    def commit(self) -> None:
        """Commit the offsets of the batches written so far that moved since the last commit, for the partitions
        still assigned."""
        from kafka.errors import CommitFailedError, RebalanceInProgressError
        from kafka.structs import OffsetAndMetadata, TopicPartition

        assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        moved = {tp: o for tp, o in self._written.items() if tp in assigned and self._committed.get(tp) != o}
        if not moved:
            return
        offsets = {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in moved.items()}
        started = time.perf_counter()
        try:
            self.consumer.commit(offsets=offsets)
        except (RebalanceInProgressError, CommitFailedError) as e:
            # The group is rebalancing (or has moved on): nothing is lost. What this member keeps is committed at
            # its next commit; what it loses is read again by its new owner, and written again under the same ids.
            log.info("commit deferred by a rebalance (%s); partitions kept are committed next time", type(e).__name__)
            return
        self.metrics.commit_seconds.labels(self.metrics.group).observe(time.perf_counter() - started)
        self._committed.update(moved)

    def revoked(self, partitions: Sequence[Any]) -> None:
        """Partitions taken away in a rebalance. Every batch is committed as soon as it is written (and finished
        batches just before each poll, where a rebalance can happen), so what the sinks acknowledged is committed
        already; kafka-python 3 runs this callback on its network thread, where a blocking commit is refused
        anyway. Their waiting halves are forgotten once the new assignment shows they went to another member
        (``assigned``): a partition that comes back keeps its position in the client, so its halves must stay."""
        self.metrics.rebalances.labels(self.metrics.group, "revoked").inc()
        self._revoked.update((tp.topic, tp.partition) for tp in partitions)

    def assigned(self, partitions: Sequence[Any]) -> None:
        """The new assignment: halves of partitions revoked and not given back are left to their new owner."""
        self.metrics.rebalances.labels(self.metrics.group, "assigned").inc()
        now = {(tp.topic, tp.partition) for tp in self.consumer.assignment()} | {
            (tp.topic, tp.partition) for tp in partitions
        }
        gone, self._revoked = self._revoked - now, set()
        released = self.decoder.release(gone)
        if released:
            log.info("rebalance: %d waiting halves left to the partitions' new owner", released)
        for tp in gone:
            self._next.pop(tp, None)
            self._written.pop(tp, None)
            self._committed.pop(tp, None)
            with contextlib.suppress(KeyError):  # its new owner reports it
                self.metrics.lag.remove(tp[0], str(tp[1]), self.metrics.group)
        self.metrics.assigned.labels(self.metrics.group).set(len(now))

    def update_lag(self) -> None:
        """``inferwatch_consumer_lag`` of every assigned partition whose end offset the client knows."""
        assignment = self.consumer.assignment()
        self.metrics.assigned.labels(self.metrics.group).set(len(assignment))
        safe = self.safe_offsets() if self.commit_offsets else self._next
        for tp in assignment:
            end = self.consumer.highwater(tp)
            if end is None:
                continue
            key = (tp.topic, tp.partition)
            done = self._committed.get(key, safe.get(key)) if self.commit_offsets else safe.get(key)
            if done is None:  # nothing handled here yet: where the client starts reading (the committed offset)
                done = self.consumer.position(tp)
            if done is None:
                continue
            self.metrics.lag.labels(tp.topic, str(tp.partition), self.metrics.group).set(max(0, end - done))

    def _keepalive(self) -> None:
        """While a write waits for a failing sink: poll, so the group does not evict this member
        (``max.poll.interval.ms``) and a rebalance can complete while it waits; what the poll returns is given back
        (``seek`` to its first offset per partition), to be read again once the batches in hand are written.

        Found by the fault tests (tests/consumers/test_index_faults.py) on kafka-python 3.0: a poll of 0 ms never
        completes a rebalance's join (the member kept its old partitions, the group waited on it), hence
        ``KEEPALIVE_POLL_MS``; and partitions paused around the poll (this method's first design) lose their
        buffered records to the client's parking of paused data, which never hands them back after ``resume``:
        such a partition was never fetched again. Records dropped here instead of given back would be skipped,
        then committed past."""
        polled = self.consumer.poll(timeout_ms=KEEPALIVE_POLL_MS, max_records=1)
        for tp, messages in polled.items():
            if messages:
                self.consumer.seek(tp, messages[0].offset)

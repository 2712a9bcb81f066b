"""Kafka consumer groups: opening a member that reliably gets its partitions, and the at-least-once loop.

kafka-python computes a group's assignment from the leader's local metadata. A fresh client that joins before
its first metadata response for the topic has arrived assigns nothing and only rejoins on a later metadata
change, which can leave a consumer idle for minutes. ``group_consumer`` therefore asks the broker for the
topic's partitions first and subscribes once they are known.

``consume`` is the at-least-once loop every consumer service shares: poll a batch, hand every message to the
service, then commit the consumed positions (offset + 1). A crash before the commit re-delivers the batch; it
never skips one. ``before_commit`` runs between the two: a service whose handling hands work on (results
published through a write-ahead log) waits there until that work is durable, so a commit never runs ahead of
it. The service decides what an unusable message means (count it, log it, dead-letter it):
an exception out of ``handle`` stops the loop without committing. ``after_poll`` runs after every poll, also
when nothing arrived (at least every half second): work due on time, such as closing a time window.

``ConsumerThread`` runs such a loop on a thread of its own and answers the health probes for it: live while the
thread runs (a loop that raised — ``CommitFailedError`` after a rebalance, a service's bug — or ended without
being asked is dead: logged at CRITICAL with its traceback, and the liveness probe fails so the container is
restarted); ready while it also completed a poll within ``stall_seconds`` (``PollWatch``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from inferwatch.health import Check

log = logging.getLogger("inferwatch.sources.kafka")


class PollWatch:
    """When the loop last completed a poll and how many partitions it held then (written by the loop, read by
    health probes on any thread)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last_poll: float | None = None
        self.assigned: int | None = None
        self.polls = 0

    def polled(self, consumer: Any) -> None:
        """A poll of ``consumer`` just returned."""
        self.last_poll = self.clock()
        self.polls += 1
        try:
            self.assigned = len(consumer.assignment())
        except AttributeError:  # a consumer without assignment() (tests): unknown
            self.assigned = None

    def since(self) -> float | None:
        """Seconds since the last completed poll (``None``: none yet)."""
        return None if self.last_poll is None else self.clock() - self.last_poll


def group_consumer(
    bootstrap: str | list[str],
    topic: str | None,
    group: str,
    *,
    pattern: str | None = None,
    listener: Any = None,
    wait_for_topic: float = 30.0,
    **config: Any,
) -> Any:
    """A ``KafkaConsumer`` in ``group`` subscribed to ``topic`` (or to the topics matching the regular expression
    ``pattern``), manual commits, from the earliest offset; ``listener`` (a kafka-python
    ``ConsumerRebalanceListener``) hears of every rebalance.

    Waits up to ``wait_for_topic`` seconds for the topic to exist; if it does not, subscribes anyway (its
    partitions are assigned when it is created) and says so in the log. ``config`` overrides or extends the
    consumer settings.
    """
    from kafka import KafkaConsumer

    settings: dict[str, Any] = {"enable_auto_commit": False, "auto_offset_reset": "earliest", **config}
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, **settings)
    if topic is None:
        consumer.subscribe(pattern=pattern, listener=listener)
        return consumer
    deadline = time.monotonic() + wait_for_topic
    while not consumer.partitions_for_topic(topic):
        if time.monotonic() >= deadline:
            log.warning("topic %s does not exist yet; subscribing anyway, partitions follow when it is created", topic)
            break
        time.sleep(0.2)
    consumer.subscribe([topic], listener=listener)
    return consumer


def consume(
    consumer: Any,
    handle: Callable[[Any], object],
    *,
    stop: threading.Event | None = None,
    max_records: int | None = None,
    idle_timeout: float | None = None,
    batch: int = 500,
    after_poll: Callable[[], object] | None = None,
    before_commit: Callable[[], object] | None = None,
    watch: PollWatch | None = None,
) -> int:
    """Poll, ``handle`` each message (a kafka-python ``ConsumerRecord``), ``before_commit``, commit, then
    ``after_poll``, until
    ``stop`` is set, ``max_records`` were handled, or nothing arrived for ``idle_timeout`` seconds. Returns how
    many messages were handled. ``watch`` is told of every completed poll."""
    handled = 0
    idle_since = time.monotonic()
    while not (stop is not None and stop.is_set()):
        polled = consumer.poll(timeout_ms=500, max_records=batch)
        if watch is not None:
            watch.polled(consumer)
        messages = [m for msgs in polled.values() for m in msgs]
        if not messages:
            if after_poll is not None:
                after_poll()
            if idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                break
            continue
        idle_since = time.monotonic()
        for m in messages:
            handle(m)
        if before_commit is not None:
            before_commit()
        consumer.commit()  # after processing: a crash before this line re-delivers, never skips
        handled += len(messages)
        if after_poll is not None:
            after_poll()
        if max_records is not None and handled >= max_records:
            break
    return handled


Loop = Callable[[threading.Event, PollWatch], object]
"""A consume loop: runs until the event is set, telling the ``PollWatch`` of every poll."""


class ConsumerThread:
    """Runs a consume loop on a daemon thread and answers the health probes for it (see module doc)."""

    def __init__(
        self, loop: Loop, *, name: str = "consume", stall_seconds: float = 60.0, watch: PollWatch | None = None
    ) -> None:
        self.stall_seconds = stall_seconds
        self.watch = watch or PollWatch()
        self.error: BaseException | None = None
        self._loop = loop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> ConsumerThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to stop after its current batch and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the loop ends (it was stopped, or it died)."""
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def liveness(self) -> Check:
        """Ok while the thread runs (or before it is started, or once it was asked to stop)."""
        if self._thread.is_alive() or self._thread.ident is None or self._stop.is_set():
            return Check(True)
        why = f"{type(self.error).__name__}: {self.error}" if self.error is not None else "it returned"
        return Check(False, f"the consumer thread {self._thread.name!r} has died ({why}); nothing is consumed")

    def readiness(self) -> Check:
        """Ok while the thread runs and completed a poll within ``stall_seconds``; the partitions it held then
        are shown (none: the group has more consumers than partitions, it stands by)."""
        live = self.liveness()
        if not live.ok or not self._thread.is_alive():
            return Check(False, live.reason or "the consumer thread is not running")
        since = self.watch.since()
        detail: dict[str, object] = {"polls": self.watch.polls, "assigned_partitions": self.watch.assigned}
        if since is None:
            return Check(False, "no poll completed yet (joining the consumer group)", detail)
        detail["seconds_since_poll"] = round(since, 1)
        if since > self.stall_seconds:
            return Check(False, f"no poll completed for {since:.0f}s (> {self.stall_seconds:g}s)", detail)
        return Check(True, detail=detail)

    def _run(self) -> None:
        try:
            self._loop(self._stop, self.watch)
        except BaseException as e:
            self.error = e
            log.critical(
                "consumer thread %r died: %s: %s; nothing is consumed any more, /health/live answers 503",
                self._thread.name,
                type(e).__name__,
                e,
                exc_info=True,
            )
            return
        if not self._stop.is_set():
            log.critical("consumer thread %r ended without being asked to; /health/live answers 503", self._thread.name)

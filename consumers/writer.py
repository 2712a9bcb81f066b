"""Writing a consumed batch into a sink until the sink has it: the indexer's only way to the search engines.

The consumer commits a batch's offsets after this returns, so this is where nothing may be lost: a passing failure
(429, 5xx, the engine unreachable, a blocked index) is tried again with exponential backoff, for as long as it
takes, and the consumer commits nothing meanwhile (``keepalive``, if given, is called between attempts; the indexer
writes on threads of its own and keeps its group from its loop instead, ``Indexer._keepalive``).
What the sink refuses for the record itself is written in its next smaller form
(``inferwatch.reduction``), exactly as the logger's delivery worker does (``inferwatch.delivery.triage``); a
record refused even in its smallest form is returned as unwritable, for the dead-letter topic. A batch that failed
for good without saying which record caused it is written one record at a time to find the culprit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from inferwatch.delivery.triage import triage
from inferwatch.errors import SinkError
from inferwatch.results import Record
from inferwatch.sinks import Sink

log = logging.getLogger("inferwatch.consumers")


@dataclass(frozen=True)
class Backoff:
    """Pauses between attempts: ``initial`` seconds, doubled up to ``maximum``."""

    initial: float = 0.5
    maximum: float = 30.0

    def pauses(self) -> Callable[[], float]:
        state = {"next": self.initial}

        def pause() -> float:
            now = state["next"]
            state["next"] = min(self.maximum, now * 2)
            return now

        return pause


DEFAULT_BACKOFF = Backoff()


class Stopped(Exception):
    """Asked to stop while a batch was still not written (nothing of it is committed)."""


@dataclass
class Unwritable:
    """A record the sink refused even in its smallest form, and why."""

    record: Record
    reason: str


def write_all(
    sink: Sink,
    records: Sequence[Record],
    *,
    stop: threading.Event | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    on_retry: Callable[[str], object] | None = None,
    keepalive: Callable[[], object] | None = None,
) -> tuple[int, list[Unwritable]]:
    """Write ``records`` into ``sink`` until every one is written or unwritable (module doc). Returns how many
    were written and the unwritable ones; raises ``Stopped`` if ``stop`` is set while some are still pending."""
    pending: list[Record] = list(records)
    unwritable: list[Unwritable] = []
    written = 0
    pause = backoff.pauses()
    while pending:
        try:
            sink.write(pending)
        except SinkError as e:
            verdict = triage(pending, e)
            written += len(verdict.written)
            unwritable.extend(Unwritable(pending[p], why) for p, why in verdict.unwritable.items())
            if verdict.isolate:
                for record in pending:  # keepalive too: the sink may start failing meanwhile
                    n, bad = write_all(
                        sink, [record], stop=stop, backoff=backoff, on_retry=on_retry, keepalive=keepalive
                    )
                    written += n
                    unwritable.extend(bad)
                return written, unwritable
            again = [pending[p] for p in verdict.again]
            smaller = [s.record for s in verdict.smaller.values()]
            for s in verdict.smaller.values():
                log.warning("%s: record %s refused (%s); writing it %s", sink.name, s.record.id, s.reason, s.flag.value)
            pending = smaller + again
            if again:
                reason = verdict.block.reason if verdict.block else _reason(e)
                if on_retry is not None:
                    on_retry(reason)
                wait = pause()
                log.warning(
                    "%s: %d records not written yet (%s); trying again in %.1fs", sink.name, len(again), e.message, wait
                )
                _sleep(wait, stop, keepalive)
        else:
            written += len(pending)
            pending = []
    return written, unwritable


def _reason(e: SinkError) -> str:
    details = e.details or {}
    reasons = details.get("reasons")
    if isinstance(reasons, list) and reasons:
        return str(reasons[0])
    return "unavailable"


def _sleep(seconds: float, stop: threading.Event | None, keepalive: Callable[[], object] | None) -> None:
    """Wait ``seconds``, calling ``keepalive`` at least every 5 s; ``Stopped`` as soon as ``stop`` is set."""
    remaining = seconds
    while remaining > 0:
        step = min(remaining, 5.0)
        if stop is not None:
            if stop.wait(step):
                raise Stopped("stopped while records were not written")
        else:
            threading.Event().wait(step)
        remaining -= step
        if keepalive is not None:
            keepalive()

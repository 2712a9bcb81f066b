"""What the delivery worker does with each record of a batch its sink did not write whole.

``triage(records, error)`` reads the sink's error (``inferwatch.sinks.failures``) and sorts the batch by position:

- ``written``: stored by the sink — done, whatever happened to the others;
- ``again``: to be written again as they are, after a pause (a passing failure, or a blocked destination:
  ``block`` then says what a person has to do);
- ``smaller``: refused for what they carry; their next smaller form (``inferwatch.reduction``) is written next;
- ``unwritable``: refused even in their smallest form — dropped, one by one, counted and logged with their id;
- ``isolate``: the whole batch failed for good without saying which record caused it: the worker writes its
  records one at a time, so the culprit is found and its neighbours are written.

A pure function of the batch and the error, so the rules are tested without threads or a sink.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from inferwatch.errors import SinkError
from inferwatch.records import Flag
from inferwatch.reduction import smaller
from inferwatch.results import Record
from inferwatch.sinks.failures import Block, RecordsRejected, Refusal, SinkBlocked

UNKNOWN_REMEDY = "see the sink's log and its server's"


@dataclass(frozen=True)
class Smaller:
    """The next form of a refused record, the flag naming that form, and why the record was refused."""

    record: Record
    flag: Flag
    reason: str


@dataclass
class Verdict:
    """Positions of a batch sorted by what happens to them next (see module doc)."""

    written: list[int] = field(default_factory=list)
    again: list[int] = field(default_factory=list)
    smaller: dict[int, Smaller] = field(default_factory=dict)
    unwritable: dict[int, str] = field(default_factory=dict)
    """Position → why even its smallest form was refused."""
    block: Block | None = None
    isolate: bool = False


def triage(records: Sequence[Record], error: SinkError) -> Verdict:
    """Sort ``records`` (the batch the sink's ``write`` got) by what ``error`` says about each (module doc)."""
    verdict = Verdict()
    if isinstance(error, RecordsRejected):
        failed = {f.position: f for f in error.failures if 0 <= f.position < len(records)}
        for pos, record in enumerate(records):
            failure = failed.get(pos)
            if failure is None:
                verdict.written.append(pos)
            elif failure.refusal is Refusal.RECORD:
                _shrink(verdict, pos, record, failure.reason, failure.message)
            else:
                verdict.again.append(pos)
                if failure.refusal is Refusal.BLOCKED and verdict.block is None:
                    verdict.block = failure.block or Block(failure.reason, failure.message, UNKNOWN_REMEDY)
        return verdict
    if isinstance(error, SinkBlocked):
        verdict.again.extend(range(len(records)))
        verdict.block = error.block
    elif error.retriable:
        verdict.again.extend(range(len(records)))
    elif len(records) > 1:
        verdict.isolate = True
    elif records:
        reason = "unserialisable" if isinstance(error.__cause__, TypeError) else "refused"
        _shrink(verdict, 0, records[0], reason, error.message)
    return verdict


def _shrink(verdict: Verdict, pos: int, record: Record, reason: str, message: str) -> None:
    step = smaller(record)
    if step is None:
        verdict.unwritable[pos] = f"{reason}: {message}"
    else:
        verdict.smaller[pos] = Smaller(step[0], step[1], reason)

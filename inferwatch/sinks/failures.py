"""How a sink says *which* records of a batch it could not write, and when a person has to act.

A sink's ``write`` either stores the whole batch or raises a ``SinkError``. Two kinds say more than "the batch
failed", so that the delivery worker never lets one record decide the fate of its neighbours:

- ``RecordsRejected``: the batch was written except the records listed in ``failures`` (positions in the batch
  ``write`` received), each with a ``Refusal``: ``RETRY`` (try it again as it is: a timeout, a 429), ``RECORD``
  (this record cannot be written as it is: too large, unserialisable, refused by the mapping — the worker writes
  its next smaller form, ``inferwatch.reduction``, and drops it alone once none is left) or ``BLOCKED``.
- ``SinkBlocked``: the destination refuses every write until a person fixes something (an index template
  conflict, a read-only index, credentials, a missing index with auto-creation off). It is retriable: the worker
  keeps the records in its spool, probes with a longer pause, logs ``remedy`` once, reports it in the sink's
  health and in ``inferwatch_sink_blocked{sink,reason}``, and delivers everything once the refusal stops.

A plain ``SinkError`` (or any other exception) still means the whole batch failed; when it is not retriable the
worker isolates the culprit by writing the batch's records one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from inferwatch.errors import SinkError


class Refusal(StrEnum):
    """What the worker does with a record a sink did not write."""

    RETRY = "retry"
    """Write it again as it is (after a pause): the cause is passing."""
    RECORD = "record"
    """It cannot be written as it is: write its next smaller form, or drop it alone when none is left."""
    BLOCKED = "blocked"
    """The destination refuses until a person acts: keep it (spooled) and probe slowly."""


@dataclass(frozen=True)
class Block:
    """Why a destination refuses writes and what a person does about it. ``reason`` labels the metric
    (``template_conflict``, ``mapping``, ``read_only``, ``auth``, ``index_missing``, ``disk_full``...)."""

    reason: str
    message: str
    remedy: str

    def describe(self) -> str:
        """One line for the log and the health detail: what happened, then what to do."""
        return f"{self.message}. To fix: {self.remedy}"


@dataclass(frozen=True)
class RecordFailure:
    """One record a sink did not write: its ``position`` in the batch, what to do, and why."""

    position: int
    refusal: Refusal
    reason: str
    """Short label: ``unserialisable``, ``too_large``, ``mapping``, ``timeout``... (metrics and logs)."""
    message: str
    block: Block | None = None
    """For ``Refusal.BLOCKED``: what a person has to do."""


class RecordsRejected(SinkError):
    """Every record of the batch was written except those in ``failures`` (see module doc)."""

    def __init__(self, sink: str, failures: Sequence[RecordFailure], total: int) -> None:
        reasons = sorted({f.reason for f in failures})
        first = failures[0]
        super().__init__(
            f"{sink}: {len(failures)}/{total} records not written ({', '.join(reasons)}): {first.message}",
            retriable=any(f.refusal is not Refusal.RECORD for f in failures),
            details={"failed": len(failures), "reasons": reasons, "first_position": first.position},
        )
        self.failures = tuple(failures)


class SinkBlocked(SinkError):
    """The destination refuses every write until a person acts (``block`` says what to do); retriable."""

    retriable = True

    def __init__(self, sink: str, block: Block) -> None:
        super().__init__(f"{sink}: {block.describe()}", details={"blocked": block.reason})
        self.block = block


__all__ = ["Block", "RecordFailure", "RecordsRejected", "Refusal", "SinkBlocked"]

"""What became of each record of the spool batch being replayed, kept while that batch is read again.

A replayed batch is acknowledged in the spool only once none of its records is left to write. Until then a
failure for a passing reason rewinds the spool and the same frames are read again: the ledger makes sure a record
already written is not written again, one dropped as unwritable is not dropped (and counted) twice, and one
that went to a smaller form (``inferwatch.reduction``) is written in that form. Decisions are kept per spool
frame, so two records with the same id in one batch stay two records.
"""

from __future__ import annotations

from inferwatch.results import Record


class ReplayLedger:
    """Per frame of the batch being replayed: the form to write instead, or ``None`` once written or dropped."""

    def __init__(self) -> None:
        self._outcome: dict[int, Record | None] = {}
        self._frame: dict[int, int] = {}
        """``id()`` of a record object of the current attempt → its frame's sequence number."""

    def read(self, seq: int, record: Record) -> Record | None:
        """The record to write for frame ``seq`` (read as ``record``): itself, its chosen smaller form, or
        ``None`` when it is settled already."""
        if seq in self._outcome:
            fixed = self._outcome[seq]
            if fixed is None:
                return None
            record = fixed
        self._frame[id(record)] = seq
        return record

    def settled(self, record: Record) -> None:
        """``record`` was written, or dropped for good."""
        seq = self._frame.get(id(record))
        if seq is not None:
            self._outcome[seq] = None

    def replaced(self, record: Record, form: Record) -> None:
        """``record`` is to be written as ``form`` from now on."""
        seq = self._frame.get(id(record))
        if seq is not None:
            self._outcome[seq] = form
            self._frame[id(form)] = seq

    def clear(self) -> None:
        """The batch is acknowledged: forget it."""
        self._outcome.clear()
        self._frame.clear()

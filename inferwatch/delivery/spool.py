"""An append-only on-disk spool of opaque byte records: segment files, CRC-checked frames, a cursor file.

Layout of one spool directory::

    lock                      flock(2)-held by the process that owns the spool (one owner at a time)
    cursor                    text: the first sequence number not yet acknowledged (tmp + rename)
    00000000000000000000.seg  segments, named by the sequence number of their first frame
    00000000000000004711.seg

A segment starts with the 8-byte magic ``IWSPOOL1`` followed by frames::

    u32 length | u32 crc32(seq || payload) | u64 seq | payload (length bytes)      (little-endian)

Sequence numbers are consecutive across segments. ``append`` writes a whole frame with one ``write(2)``;
``sync`` makes every frame written so far durable (``fdatasync``) — callers group many appends under one
``sync`` (group commit). With ``fsync=False`` frames survive a process crash (they are in the page cache)
but not a power loss; segment rolls and ``close`` still sync.

Reading is in order from the cursor; ``ack`` may come out of order (the cursor advances over the
contiguous acknowledged prefix), so restart replays everything after the cursor (at-least-once).
Segments whose frames are all acknowledged are deleted; when everything is acknowledged the spool
deletes all its segments. A torn tail (a partial or corrupt last frame, e.g. after SIGKILL or a power
loss mid-write) is detected by length/CRC on open, logged and cut off — it never crashes the reader.

Bounded: ``append`` raises ``SpoolFull`` when the segment files would exceed ``max_bytes``; acknowledged
frames in a segment still in use count until that segment is deleted, so keep ``segment_bytes`` a small
fraction of ``max_bytes`` (the default is a quarter at most).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from inferwatch.errors import ConfigError, InferwatchError

log = logging.getLogger("inferwatch.delivery.spool")

MAGIC = b"IWSPOOL1"
HEADER = struct.Struct("<IIQ")
FRAME_OVERHEAD = HEADER.size
MAX_FRAME = 1 << 30
_SEQ = struct.Struct("<Q")
_CURSOR_EVERY = 0.5  # seconds between cursor-file writes while acks stream in


class SpoolError(InferwatchError):
    """The spool could not store or read a record (I/O error, corrupt file)."""

    status_code = 503


class SpoolFull(SpoolError):
    """Appending would exceed the spool's ``max_bytes``."""


class SpoolLocked(ConfigError):
    """Another process owns this spool directory."""


def write_failure(e: BaseException) -> str:
    """The drop reason of a failed spool write: ``spool_full`` (over ``max_bytes``), ``disk_full`` (the file system
    has no room or the quota is used up: ENOSPC, EDQUOT, also as the cause of a ``SpoolError``) or ``spool_error``."""
    if isinstance(e, SpoolFull):
        return "spool_full"
    for err in (e, e.__cause__):
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return "disk_full"
    return "spool_error"


Frame = tuple[int, bytes]
"""``(sequence number, payload)``."""


@dataclass(slots=True)
class _Segment:
    first_seq: int
    path: Path
    size: int
    next_seq: int
    """One past the last frame's sequence number (``first_seq`` when empty)."""


def _crc(seq: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(_SEQ.pack(seq)))


def encode_frame(seq: int, payload: bytes) -> bytes:
    return HEADER.pack(len(payload), _crc(seq, payload), seq) + payload


def _frames(data: bytes, first_seq: int) -> tuple[int, int]:
    """Walk the valid frames of a segment's bytes: ``(next_seq, end of the valid prefix)``."""
    off, seq = len(MAGIC), first_seq
    view = memoryview(data)
    while off + HEADER.size <= len(data):
        length, crc, fseq = HEADER.unpack_from(data, off)
        end = off + HEADER.size + length
        if fseq != seq or length > MAX_FRAME or end > len(data):
            break
        if _crc(fseq, view[off + HEADER.size : end]) != crc:
            break
        off, seq = end, seq + 1
    return seq, off


class Spool:
    """One spool directory. Thread-safe; one owning process at a time (``SpoolLocked`` otherwise)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        segment_bytes: int | None = None,
        fsync: bool = False,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(4096, min(64 << 20, max_bytes // 4))
        self.fsync = fsync
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock(directory)
        self._mu = threading.Lock()
        self._segments: list[_Segment] = []
        self._fd: int | None = None  # append fd of the last segment
        self._rfd: tuple[int, int] | None = None  # (first_seq, fd) of the segment being read
        self._acked: set[int] = set()
        self._next_seq = 0
        self._dirty = False
        self._cursor_written = 0.0
        try:
            self._cursor = self._read_cursor()
            self._recover()
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._read_seq = self._cursor
        self._read_at: tuple[int, int] | None = None  # (segment first_seq, offset) of _read_seq

    # -- state ---------------------------------------------------------------------------------------
    @property
    def records(self) -> int:
        """Frames appended and not yet acknowledged (the backlog)."""
        with self._mu:
            return self._next_seq - self._cursor - len(self._acked)

    @property
    def size_bytes(self) -> int:
        """Size of the segment files on disk."""
        with self._mu:
            return sum(s.size for s in self._segments)

    @staticmethod
    def has_data(directory: Path) -> bool:
        """Whether ``directory`` holds segment files (from this or a previous run), without opening it."""
        return directory.is_dir() and any(directory.glob("*.seg"))

    # -- writing -------------------------------------------------------------------------------------
    def append(self, payload: bytes) -> int:
        """Write one frame (not yet synced); its sequence number. ``SpoolFull`` if it does not fit."""
        need = FRAME_OVERHEAD + len(payload)
        with self._mu:
            used = sum(s.size for s in self._segments)
            seg = self._segments[-1] if self._segments else None
            roll = seg is None or self._fd is None or seg.size + need > self.segment_bytes
            if used + need + (len(MAGIC) if roll else 0) > self.max_bytes:
                raise SpoolFull(f"spool {self.directory} is full ({used} of {self.max_bytes} bytes)")
            if roll:
                seg = self._roll()
            assert seg is not None and self._fd is not None
            seq = self._next_seq
            _write_all(self._fd, encode_frame(seq, payload), seg)
            seg.size += need
            seg.next_seq = seq + 1
            self._next_seq = seq + 1
            self._dirty = True
            return seq

    def sync(self) -> None:
        """Make every appended frame durable (no-op with ``fsync=False`` or when nothing is new)."""
        with self._mu:
            if self.fsync and self._dirty and self._fd is not None:
                os.fdatasync(self._fd)
            self._dirty = False

    def _roll(self) -> _Segment:
        if self._fd is not None:
            if self._dirty:
                os.fdatasync(self._fd)
                self._dirty = False
            os.close(self._fd)
        path = self.directory / f"{self._next_seq:020d}.seg"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        os.write(self._fd, MAGIC)
        if self.fsync:
            os.fdatasync(self._fd)
            _sync_dir(self.directory)
        seg = _Segment(self._next_seq, path, len(MAGIC), self._next_seq)
        self._segments.append(seg)
        return seg

    # -- reading and acknowledging -------------------------------------------------------------------
    def read(self, max_records: int) -> list[Frame]:
        """The next frames in order after the last ``read`` (from the cursor after open or ``rewind``);
        acknowledged frames are skipped."""
        out: list[Frame] = []
        with self._mu:
            while len(out) < max_records and self._read_seq < self._next_seq:
                frame = self._read_one()
                if frame is None:
                    break
                if frame[0] >= self._cursor and frame[0] not in self._acked:
                    out.append(frame)
        return out

    def rewind(self) -> None:
        """Read again from the first unacknowledged frame (after a failed delivery of a read batch)."""
        with self._mu:
            self._read_seq, self._read_at = self._cursor, None

    def ack(self, seqs: Iterable[int]) -> None:
        """Acknowledge frames (any order); fully acknowledged segments are deleted."""
        with self._mu:
            for s in seqs:
                if self._cursor <= s < self._next_seq:
                    self._acked.add(s)
            start = self._cursor
            while self._cursor in self._acked:
                self._acked.discard(self._cursor)
                self._cursor += 1
            if self._cursor != start:
                self._collect()

    def ack_through(self, seq: int) -> None:
        """Acknowledge every frame up to and including ``seq`` (in-order consumers)."""
        with self._mu:
            seq = min(seq, self._next_seq - 1)
            if seq < self._cursor:
                return
            self._cursor = seq + 1
            self._acked = {s for s in self._acked if s > seq}
            while self._cursor in self._acked:
                self._acked.discard(self._cursor)
                self._cursor += 1
            self._collect()

    def close(self) -> None:
        """Sync, persist the cursor, release the directory."""
        with self._mu:
            if self._fd is not None:
                if self._dirty:
                    os.fdatasync(self._fd)
                os.close(self._fd)
                self._fd = None
            self._close_reader()
            self._write_cursor()
            os.close(self._lock_fd)

    # -- internals (called with _mu held) ------------------------------------------------------------
    def _read_one(self) -> Frame | None:
        if self._read_at is None:
            self._read_at = self._locate(self._read_seq)
            if self._read_at is None:
                return None
        first, off = self._read_at
        seg = next((s for s in self._segments if s.first_seq == first), None)
        if seg is None:  # deleted under us: find the frame again
            self._read_at = self._locate(self._read_seq)
            return self._read_one() if self._read_at is not None else None
        if off >= seg.size:
            nxt = next((s for s in self._segments if s.first_seq > first), None)
            if nxt is None:
                return None
            self._read_at = (nxt.first_seq, len(MAGIC))
            self._read_seq = max(self._read_seq, nxt.first_seq)
            return self._read_one()
        fd = self._reader(seg)
        length, crc, seq = HEADER.unpack(os.pread(fd, HEADER.size, off))
        payload = os.pread(fd, length, off + HEADER.size)
        if len(payload) != length or _crc(seq, payload) != crc or seq != self._read_seq:
            raise SpoolError(f"corrupt frame at {seg.path}:{off} (expected seq {self._read_seq})")
        self._read_at = (first, off + HEADER.size + length)
        self._read_seq = seq + 1
        return seq, payload

    def _locate(self, seq: int) -> tuple[int, int] | None:
        """``(segment, offset)`` of frame ``seq`` (or the first frame after it, moving the read position
        over a gap), scanning its segment's headers."""
        seg = next((s for s in self._segments if seq < s.next_seq), None)
        if seg is None:
            return None
        seq = self._read_seq = max(seq, seg.first_seq)
        fd = self._reader(seg)
        off, cur = len(MAGIC), seg.first_seq
        while cur < seq:
            (length,) = struct.unpack("<I", os.pread(fd, 4, off))
            off += HEADER.size + length
            cur += 1
        return seg.first_seq, off

    def _reader(self, seg: _Segment) -> int:
        if self._rfd is not None and self._rfd[0] == seg.first_seq:
            return self._rfd[1]
        self._close_reader()
        fd = os.open(seg.path, os.O_RDONLY)
        self._rfd = (seg.first_seq, fd)
        return fd

    def _close_reader(self) -> None:
        if self._rfd is not None:
            os.close(self._rfd[1])
            self._rfd = None

    def _collect(self) -> None:
        """Delete segments entirely before the cursor; everything when the backlog is empty."""
        empty = self._cursor >= self._next_seq
        keep: list[_Segment] = []
        deleted = False
        for seg in self._segments:
            active = seg is self._segments[-1] and self._fd is not None
            if (seg.next_seq <= self._cursor and not active) or empty:
                if active and self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                if self._rfd is not None and self._rfd[0] == seg.first_seq:
                    self._close_reader()
                with contextlib.suppress(FileNotFoundError):
                    seg.path.unlink()
                deleted = True
            else:
                keep.append(seg)
        self._segments = keep
        if empty:
            self._acked.clear()
            self._read_seq, self._read_at = self._cursor, None
        now = time.monotonic()
        if deleted or now - self._cursor_written > _CURSOR_EVERY:
            self._write_cursor()
            self._cursor_written = now

    def _read_cursor(self) -> int:
        try:
            return int((self.directory / "cursor").read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            log.warning("spool %s: unreadable cursor file; replaying everything on disk", self.directory)
            return 0

    def _write_cursor(self) -> None:
        tmp = self.directory / "cursor.tmp"
        tmp.write_text(f"{self._cursor}\n")
        os.replace(tmp, self.directory / "cursor")

    def _recover(self) -> None:
        paths = sorted(self.directory.glob("*.seg"))
        next_seq = self._cursor
        for i, path in enumerate(paths):
            last = i == len(paths) - 1
            try:
                first = int(path.stem)
            except ValueError:
                log.error("spool %s: ignoring unexpected file %s", self.directory, path.name)
                continue
            data = path.read_bytes()
            if last and len(data) < len(MAGIC) and MAGIC.startswith(data):
                path.unlink()  # torn while being created: it never held a frame
                continue
            if not data.startswith(MAGIC) or (first < next_seq and self._segments):
                log.error("spool %s: %s is not a valid segment; moved aside", self.directory, path.name)
                path.rename(path.with_suffix(".bad"))
                continue
            end_seq, valid = _frames(data, first)
            if valid < len(data):
                what = "torn tail" if last else "corrupt data"
                log.warning(
                    "spool %s: %s in %s: %d bytes after frame %d ignored",
                    self.directory,
                    what,
                    path.name,
                    len(data) - valid,
                    end_seq - 1,
                )
                if last:
                    os.truncate(path, valid)
            if self._segments and first > next_seq:  # frames lost to corruption: nothing to replay there
                self._acked.update(range(next_seq, first))
            self._segments.append(_Segment(first, path, valid, end_seq))
            next_seq = max(next_seq, end_seq)
        self._next_seq = next_seq
        self._cursor = max(self._cursor, self._segments[0].first_seq if self._segments else next_seq)
        self._cursor = min(self._cursor, self._next_seq)
        while self._cursor in self._acked:
            self._acked.discard(self._cursor)
            self._cursor += 1
        self._collect()
        if self._segments:
            seg = self._segments[-1]
            self._fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND)


def _write_all(fd: int, data: bytes, seg: _Segment) -> None:
    """Write a whole frame; on error cut the file back so no torn frame stays in the middle."""
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as e:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, seg.size)
        raise SpoolError(f"cannot write to spool segment {seg.path}: {e}") from e


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(directory: Path) -> int:
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise SpoolLocked(
            f"spool directory {directory} is in use by another process (pid {owner}); "
            "give each logger its own --spool-dir"
        ) from e
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd

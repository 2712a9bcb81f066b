"""Crash-safe files of a detector's state: an append-only log of CRC-checked frames, and whole-file atomic writes.

A frame log starts with the 8-byte magic ``IWFRAME1``, then frames::

    u32 length | u32 crc32(payload) | payload (length bytes)      (little-endian)

``append`` writes its frames with one ``write(2)`` to the end of the file: its cost is the size of what is
appended, never the size of the file. A crash mid-write leaves a torn last frame (short, or failing its CRC);
``read`` returns the frames before it and cuts the file there, so the next append starts on a clean boundary.
``rewrite`` replaces the whole log atomically (written beside, ``fsync``, ``os.replace``). Appends are not
``fsync``-ed: they survive a crash of the process (the page cache holds them), a power loss may lose the last
ones, and the CRC makes sure it never yields a damaged one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

from inferwatch.errors import ConfigError

log = logging.getLogger("inferwatch.detectors.framelog")

MAGIC = b"IWFRAME1"
HEADER = struct.Struct("<II")


def encode(payload: bytes) -> bytes:
    """One frame: header and payload."""
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class FrameLog:
    """One frame-log file (it need not exist yet). Not thread-safe: its owner serialises calls."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[bytes]:
        """Every intact frame's payload, in order; a torn or corrupt tail is logged and cut off."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        if len(data) < len(MAGIC) and MAGIC.startswith(data):
            self.path.unlink()  # torn while being created: nothing was ever in it
            return []
        if not data.startswith(MAGIC):
            raise ConfigError(f"{self.path} is not an inferwatch frame log; move it away or delete it")
        payloads, off = [], len(MAGIC)
        while off + HEADER.size <= len(data):
            length, crc = HEADER.unpack_from(data, off)
            end = off + HEADER.size + length
            if end > len(data) or zlib.crc32(data[off + HEADER.size : end]) != crc:
                break
            payloads.append(data[off + HEADER.size : end])
            off = end
        if off < len(data):
            cut = len(data) - off
            log.warning("%s: a torn or damaged write after frame %d cut off (%d bytes)", self.path, len(payloads), cut)
            with open(self.path, "r+b") as f:
                f.truncate(off)
        return payloads

    def append(self, payloads: Iterable[bytes]) -> None:
        """Add frames at the end with one write (the magic first when the file is new)."""
        frames = b"".join(encode(p) for p in payloads)
        if not frames:
            return
        with open(self.path, "ab", buffering=0) as f:
            if f.tell() == 0:
                frames = MAGIC + frames
            _write_all(f, frames)

    def rewrite(self, payloads: Iterable[bytes]) -> None:
        """Replace the log by these frames, atomically; no frames removes the file."""
        frames = b"".join(encode(p) for p in payloads)
        if frames:
            write_atomic(self.path, MAGIC + frames)
        else:
            self.remove()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` so that it holds either its old or its new content, even after a crash or power loss."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb", buffering=0) as f:
        _write_all(f, data)
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _write_all(f: io.FileIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[f.write(view) :]


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened or synced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

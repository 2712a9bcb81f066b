"""The frame log under a detector's state: appends read back in order, a torn write loses that write only."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferwatch.detectors.framelog import MAGIC, FrameLog, write_atomic
from inferwatch.errors import ConfigError

PAYLOADS = [b"first", b"", b"third" * 100, bytes(range(256))]


def test_appends_read_back_in_order(tmp_path: Path) -> None:
    log = FrameLog(tmp_path / "x.log")
    assert log.read() == []
    log.append(PAYLOADS[:2])
    log.append(PAYLOADS[2:])
    assert FrameLog(tmp_path / "x.log").read() == PAYLOADS


def test_a_write_torn_anywhere_loses_that_write_only(tmp_path: Path) -> None:
    whole = tmp_path / "whole.log"
    FrameLog(whole).append(PAYLOADS[:3])
    before = whole.stat().st_size
    FrameLog(whole).append([b"the write a crash tore"])
    data = whole.read_bytes()
    for cut in range(before, len(data)):  # every length the last write may have reached
        torn = tmp_path / f"torn-{cut}.log"
        torn.write_bytes(data[:cut])
        log = FrameLog(torn)
        assert log.read() == PAYLOADS[:3], cut
        assert torn.stat().st_size == before  # the torn bytes are cut off: the next append starts clean
        log.append([b"next"])
        assert FrameLog(torn).read() == [*PAYLOADS[:3], b"next"], cut


def test_a_damaged_frame_ends_the_log_there(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    FrameLog(path).append(PAYLOADS)
    data = bytearray(path.read_bytes())
    data[len(MAGIC) + 8 + 2] ^= 0xFF  # a byte of the first payload
    path.write_bytes(bytes(data))
    assert FrameLog(path).read() == []


def test_a_file_torn_while_created_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(MAGIC[:3])
    assert FrameLog(path).read() == [] and not path.exists()


def test_someone_elses_file_is_refused_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"something else entirely")
    with pytest.raises(ConfigError, match="not an inferwatch frame log"):
        FrameLog(path).read()
    assert path.read_bytes() == b"something else entirely"


def test_rewrite_replaces_atomically_and_nothing_removes(tmp_path: Path) -> None:
    log = FrameLog(tmp_path / "x.log")
    log.append(PAYLOADS)
    log.rewrite([b"only"])
    assert log.read() == [b"only"] and not (tmp_path / "x.log.tmp").exists()
    log.rewrite([])
    assert not (tmp_path / "x.log").exists() and log.read() == []


def test_write_atomic_leaves_old_or_new_content(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, b"old")
    (tmp_path / "state.json.tmp").write_bytes(b"a torn attempt")  # a crash before the rename
    assert path.read_bytes() == b"old"
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new" and not (tmp_path / "state.json.tmp").exists()

"""The on-disk spool: round trip, restart, torn tails, the size bound, segment clean-up, one owner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inferwatch.capture import Body, Exchange
from inferwatch.delivery import SpoolFull, decode_exchange, encode_exchange
from inferwatch.delivery.spool import FRAME_OVERHEAD, MAGIC, Spool, SpoolLocked, encode_frame


def _payloads(n: int, start: int = 0) -> list[bytes]:
    return [f"record-{i:05d}-".encode() * 3 for i in range(start, start + n)]


def _drain(spool: Spool, batch: int = 7) -> list[bytes]:
    out: list[bytes] = []
    while frames := spool.read(batch):
        out += [p for _, p in frames]
        spool.ack_through(frames[-1][0])
    return out


def _segments(d: Path) -> list[Path]:
    return sorted(d.glob("*.seg"))


def test_round_trip_in_order_across_segments_and_cleanup(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=512)
    data = _payloads(100)
    assert [s.append(p) for p in data] == list(range(100))
    s.sync()
    assert s.records == 100 and len(_segments(tmp_path)) > 5  # rolled at 512 bytes
    assert _drain(s) == data
    assert s.records == 0 and _segments(tmp_path) == [] and s.size_bytes == 0  # acked segments deleted
    s.append(b"after")  # appending after a full drain starts a fresh segment, numbering continues
    assert s.read(10) == [(100, b"after")]
    s.close()


def test_restart_resumes_after_the_acknowledged_prefix(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=400)
    data = _payloads(50)
    for p in data:
        s.append(p)
    frames = s.read(20)
    s.ack_through(frames[-1][0])
    s.read(10)  # read but not acknowledged: must come back after restart
    s.close()
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=400)
    assert s.records == 30
    assert _drain(s) == data[20:]
    s.append(b"next")
    assert s.read(1) == [(50, b"next")]  # sequence numbers continue across restarts
    s.close()


def test_rewind_and_out_of_order_acks(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=300)
    for p in _payloads(10):
        s.append(p)
    first = s.read(4)
    s.rewind()
    assert s.read(4) == first  # a failed delivery reads the same batch again
    s.ack([3, 1, 2])  # 0 still pending: nothing before it may be forgotten
    assert s.records == 7
    s.close()
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=300)
    assert [seq for seq, _ in s.read(100)] == list(range(10))  # only a contiguous prefix is remembered
    s.ack([0])
    s.close()


@pytest.mark.parametrize("tail", [b"\x05\x00", encode_frame(20, b"x" * 40)[:-3], b"garbage-garbage-garbage"])
def test_torn_or_corrupt_tail_is_ignored_and_appends_continue(tmp_path: Path, tail: bytes) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20)
    data = _payloads(20)
    for p in data:
        s.append(p)
    s.close()
    last = _segments(tmp_path)[-1]
    with last.open("ab") as f:
        f.write(tail)
    s = Spool(tmp_path, max_bytes=1 << 20)
    assert s.records == 20
    assert s.append(b"after the tear") == 20
    assert _drain(s) == [*data, b"after the tear"]
    s.close()


def test_flipped_bit_in_the_last_frame_cuts_only_that_frame(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20)
    data = _payloads(5)
    for p in data:
        s.append(p)
    s.close()
    seg = _segments(tmp_path)[-1]
    raw = bytearray(seg.read_bytes())
    raw[-2] ^= 0xFF
    seg.write_bytes(bytes(raw))
    s = Spool(tmp_path, max_bytes=1 << 20)
    assert _drain(s) == data[:4]
    s.close()


def test_segment_torn_while_being_created_is_discarded(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20)
    s.append(b"one")
    s.close()
    (tmp_path / f"{1:020d}.seg").write_bytes(MAGIC[:3])
    s = Spool(tmp_path, max_bytes=1 << 20)
    assert s.read(10) == [(0, b"one")]
    assert s.append(b"two") == 1
    s.close()


def test_bound_raises_spool_full_and_frees_space_after_acks(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=4096, segment_bytes=1024)
    stored = 0
    with pytest.raises(SpoolFull):
        for p in _payloads(1000):
            s.append(p)
            stored += 1
    assert 0 < stored < 1000
    assert s.size_bytes <= 4096
    assert s.records == stored
    _drain(s)
    s.append(b"room again")
    assert s.size_bytes <= len(MAGIC) + FRAME_OVERHEAD + len(b"room again")
    s.close()


def test_one_owner_per_directory(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20)
    with pytest.raises(SpoolLocked, match="in use by another process"):
        Spool(tmp_path, max_bytes=1 << 20)
    s.close()
    Spool(tmp_path, max_bytes=1 << 20).close()  # released on close


def test_fsync_mode_syncs_and_survives_reopen(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=1 << 20, fsync=True)
    for p in _payloads(3):
        s.append(p)
    s.sync()
    fd = os.open(_segments(tmp_path)[-1], os.O_RDONLY)
    try:
        assert os.fstat(fd).st_size == len(MAGIC) + sum(FRAME_OVERHEAD + len(p) for p in _payloads(3))
    finally:
        os.close(fd)
    s.close()


def test_exchange_codec_round_trip_keeps_binary_bodies() -> None:
    ex = Exchange(
        request_id="r-1",
        received_at=1.25,
        responded_at=1.5,
        request=Body(b"\x00\xff\x10binary", "application/octet-stream", 100, True, "gzip"),
        response=Body(b'{"data":{"ndarray":[[1]]}}', "application/json", 26),
        status_code=200,
        method="POST",
        path="/api/v1.0/predictions",
        tags={"component": "m", "metadata": {"k": [1, 2]}},
        partial=True,
        error="upstream slow",
    )
    assert decode_exchange(encode_exchange(ex)) == ex
    half = Exchange(request_id="r-2", received_at=2.0)
    assert decode_exchange(encode_exchange(half)) == half

"""The pending drift window on disk: restored exactly, torn writes lose one request only, each request costs its
own rows, closed windows are gone, and record ids make redelivered records count once."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.framelog import FrameLog
from inferwatch.detectors.recent_ids import FILE as SEEN
from inferwatch.detectors.window import Window
from inferwatch.detectors.window_log import FILE as LOG
from inferwatch.detectors.window_log import Chunk, encode

Array = np.ndarray[Any, Any]
MakeCore = Callable[..., DetectorCore]
ROWS = np.arange(40, dtype=np.float32).reshape(10, 4)


def _fill(w: Window) -> None:
    w.add(ROWS[:3], now=10.0, record_id="t/0/1")
    w.add(ROWS[3:4], now=11.0, record_id="t/0/2")
    w.add(ROWS[4:9], now=12.0, record_id="t/1/7")


def test_the_pending_window_is_restored_exactly(tmp_path: Path) -> None:
    _fill(Window(tmp_path, size=100, seconds=60))
    again = Window(tmp_path, size=100, seconds=60)
    assert again.rows is not None and again.rows.dtype == np.float32
    np.testing.assert_array_equal(again.rows, ROWS[:9])
    assert again.received == 9 and again.started == 10.0
    assert all(again.seen(rid) for rid in ("t/0/1", "t/0/2", "t/1/7")) and not again.seen("t/0/3")


def test_a_crash_mid_write_loses_that_request_only(tmp_path: Path) -> None:
    _fill(Window(tmp_path, size=100, seconds=60))
    frame = FrameLog(tmp_path / "other.log")
    frame.append([encode(Chunk(ROWS[9:], 13.0, ("t/1/8",)))])
    torn = (tmp_path / "other.log").read_bytes()[8:-5]  # the frame a crash cut short, without the file's magic
    with open(tmp_path / LOG, "ab") as f:
        f.write(torn)
    again = Window(tmp_path, size=100, seconds=60)
    np.testing.assert_array_equal(again.rows, ROWS[:9])
    assert not again.seen("t/1/8")  # not taken: a redelivery adds it
    again.add(ROWS[9:], now=14.0, record_id="t/1/8")
    np.testing.assert_array_equal(Window(tmp_path, size=100, seconds=60).rows, ROWS)


def test_a_count_close_keeps_only_the_rows_left_over(tmp_path: Path) -> None:
    w = Window(tmp_path, size=5, seconds=None)
    assert w.add(ROWS[:3], now=1.0) == []
    closed = w.add(ROWS[3:7], now=2.0)
    assert [(len(x), trigger) for x, trigger in closed] == [(5, "count")]
    np.testing.assert_array_equal(closed[0][0], ROWS[:5])
    w.commit()
    assert len(FrameLog(tmp_path / LOG).read()) == 1  # the closed window is gone from disk
    again = Window(tmp_path, size=5, seconds=None)
    np.testing.assert_array_equal(again.rows, ROWS[5:7])
    assert again.started == 2.0


def test_a_closed_window_leaves_nothing_behind(tmp_path: Path) -> None:
    w = Window(tmp_path, size=100, seconds=10)
    w.add(ROWS[:3], now=0.0)
    assert [(len(x), t) for x, t in w.expire(now=10.5)] == [(3, "time")]
    w.commit()
    assert not (tmp_path / LOG).exists() and Window(tmp_path, size=100, seconds=10).received == 0


def test_a_window_closed_but_not_committed_closes_again_after_a_restart(tmp_path: Path) -> None:
    """A crash between closing a window and publishing its result: the restarted detector closes it again."""
    w = Window(tmp_path, size=5, seconds=None)
    w.add(ROWS[:3], now=1.0, record_id="t/0/1")
    assert len(w.add(ROWS[3:7], now=2.0, record_id="t/0/2")) == 1  # closed, then the process dies: no commit
    again = Window(tmp_path, size=5, seconds=None)
    assert again.received == 7 and again.seen("t/0/2")
    closed = again.add(ROWS[7:8], now=3.0, record_id="t/0/3")
    assert [len(x) for x, _ in closed] == [5]
    np.testing.assert_array_equal(closed[0][0], ROWS[:5])


def test_an_earlier_versions_window_is_converted(tmp_path: Path) -> None:
    np.save(tmp_path / "pending.npy", ROWS[:6])
    (tmp_path / "pending.json").write_text(json.dumps({"started": 123.5}))
    w = Window(tmp_path, size=100, seconds=None)
    np.testing.assert_array_equal(w.rows, ROWS[:6])
    assert w.started == 123.5
    assert not (tmp_path / "pending.npy").exists() and not (tmp_path / "pending.json").exists()
    np.testing.assert_array_equal(Window(tmp_path, size=100, seconds=None).rows, ROWS[:6])


def test_an_earlier_versions_torn_start_time_keeps_the_rows(tmp_path: Path) -> None:
    np.save(tmp_path / "pending.npy", ROWS[:6])
    (tmp_path / "pending.json").write_text('{"sta')  # written in place, cut short by a crash
    before = time.time()
    w = Window(tmp_path, size=100, seconds=None)
    np.testing.assert_array_equal(w.rows, ROWS[:6])
    assert w.started is not None and w.started >= before


def test_ids_of_closed_windows_are_remembered_across_restarts(tmp_path: Path) -> None:
    w = Window(tmp_path, size=4, seconds=None, remember=100)
    for i in range(6):
        w.add(ROWS[i : i + 1], record_id=f"t/0/{i}")
    assert w.received == 2  # one window of 4 closed
    again = Window(tmp_path, size=4, seconds=None, remember=100)
    assert all(again.seen(f"t/0/{i}") for i in range(6))


def test_remembered_ids_and_their_file_are_bounded(tmp_path: Path) -> None:
    w = Window(tmp_path, size=1, seconds=None, remember=50)
    for i in range(1000):
        w.add(ROWS[:1], record_id=f"t/0/{i}")
    assert len(w.recent) == 50 and w.seen("t/0/999") and not w.seen("t/0/949")
    in_file = sum(len(json.loads(p)) for p in FrameLog(tmp_path / SEEN).read())
    assert 50 <= in_file <= 100
    assert Window(tmp_path, size=1, seconds=None, remember=50).seen("t/0/950")


def test_an_id_written_with_its_rows_but_not_yet_to_seen_log_is_recovered(tmp_path: Path) -> None:
    w = Window(tmp_path, size=4, seconds=None)
    w.add(ROWS[:1], record_id="t/0/0")
    (tmp_path / SEEN).unlink()  # a crash between the window's append and seen.log's
    again = Window(tmp_path, size=4, seconds=None)
    again.add(ROWS[1:4], record_id="t/0/1")  # closes the window: t/0/0 is remembered all the same
    assert again.received == 0 and Window(tmp_path, size=4, seconds=None).seen("t/0/0")


def _bytes_written(action: Callable[[], object]) -> int:
    """What ``action`` wrote through write(2) (``wchar`` of /proc/self/io): files, whatever their format."""

    def wchar() -> int:
        text = Path("/proc/self/io").read_text()
        return int(next(line for line in text.splitlines() if line.startswith("wchar:")).split()[1])

    before = wchar()
    action()
    return wchar() - before


def test_each_request_writes_its_own_rows_not_the_window(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, iris_x: Array
) -> None:
    core = make_core(ks_dir, tmp_path / "s", batch_size=100_000)
    costs = [_bytes_written(lambda i=i: core.detect(iris_x[i % 150 : i % 150 + 1])) for i in range(1500)]
    early, late = statistics.median(costs[10:60]), statistics.median(costs[-50:])
    assert core.window.received == 1500
    assert late <= early + 16, (early, late)  # the window grew 30-fold, the cost of a request did not
    assert late < 512, late  # one row of 4 float64 and its framing; rewriting the window would be ~48 KB

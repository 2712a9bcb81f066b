"""``Health``: liveness failures make a process neither live nor ready, readiness failures only not ready, details
decide nothing; a probe that raises counts as failed; a check that starts failing is logged once."""

from __future__ import annotations

import logging
import threading

import pytest

from inferwatch.health import Check, Health, thread_check


def test_roles_decide_live_and_ready() -> None:
    h = Health(service="test")
    state = {"worker": True, "room": True}
    h.liveness("worker", lambda: Check(state["worker"], None if state["worker"] else "worker died"))
    h.readiness("room", lambda: Check(state["room"], None if state["room"] else "full"))
    h.detail("sink", lambda: Check(False, "down", {"spooled": 3}))
    report = h.report()
    assert (report["live"], report["ready"], report["ok"], report["service"]) == (True, True, True, "test")
    assert report["checks"]["sink"] == {"ok": False, "affects": "detail", "reason": "down", "spooled": 3}
    assert report["problems"] == []
    state["room"] = False
    assert (h.report()["live"], h.report()["ready"], h.report()["problems"]) == (True, False, ["room: full"])
    state["worker"] = False
    assert (h.report()["live"], h.report()["ready"]) == (False, False)
    assert h.live_report() == {
        "live": False,
        "problems": ["worker: worker died"],
        "checks": {"worker": {"ok": False, "reason": "worker died"}},
    }


def test_a_probe_that_raises_counts_as_failed_and_a_change_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    h = Health()

    def broken() -> Check:
        raise RuntimeError("boom")

    h.liveness("broken", broken)
    with caplog.at_level(logging.WARNING, logger="inferwatch.health"):
        for _ in range(3):
            assert h.report()["live"] is False
    assert [r.levelname for r in caplog.records] == ["CRITICAL"]
    assert "check failed: RuntimeError: boom" in caplog.text
    h.forget("broken")
    assert h.report()["live"] is True


def test_a_thread_is_checked_once_started() -> None:
    t = threading.Thread(target=lambda: None, name="worker")
    assert thread_check(t).ok  # not started yet
    t.start()
    t.join()
    assert thread_check(t) == Check(False, "thread 'worker' has died")

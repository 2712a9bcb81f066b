"""Health probes, declared once for every service: what ``/health/live`` and ``/health/ready`` answer.

- **live**: can this process still work at all? ``False`` once a worker thread or task it depends on has died (the
  record builder, a sink worker, a Kafka consumer loop, a window ticker): only a restart brings it back, so the
  liveness probe fails and Kubernetes restarts the container.
- **ready**: can it do its job right now? ``False`` while the explainer is still fitting, the logger's model is
  unreachable or its intake has no room, a consumer has not polled for a while; Kubernetes sends it no traffic
  until it recovers. A process that is not live is not ready either.

Everything else worth showing (each sink's health, backlogs) is **detail**: in the body, deciding nothing.

A service registers named checks on its ``Health``; a check is a cheap callable returning a ``Check`` from state
its worker keeps (a thread's ``is_alive()``, a heartbeat, a cached probe result): probes never wait on I/O. A check
that raises counts as failed. A liveness check that starts failing is logged at CRITICAL, a readiness check at
WARNING, once per change.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger("inferwatch.health")

Role = Literal["liveness", "readiness", "detail"]


@dataclass(frozen=True, slots=True)
class Check:
    """One check's answer: ``ok``, why not (one line), and what to show in the body."""

    ok: bool
    reason: str | None = None
    detail: Mapping[str, object] = field(default_factory=dict)


Probe = Callable[[], Check]


class Health:
    """The named checks of one service. ``report()`` is what the probes answer; ``info`` is shown as it is."""

    def __init__(self, **info: object) -> None:
        self.info = info
        self._checks: dict[str, tuple[Role, Probe]] = {}
        self._failing: set[str] = set()
        self._lock = threading.Lock()

    def liveness(self, name: str, probe: Probe) -> None:
        """A check that fails only when the process cannot recover by itself (restart it)."""
        self._checks[name] = ("liveness", probe)

    def readiness(self, name: str, probe: Probe) -> None:
        """A check that fails while the process cannot do its job (send it no traffic)."""
        self._checks[name] = ("readiness", probe)

    def detail(self, name: str, probe: Probe) -> None:
        """Shown in the body, decides nothing (e.g. a sink that is down while its spool absorbs the outage)."""
        self._checks[name] = ("detail", probe)

    def forget(self, name: str) -> None:
        """Stop checking ``name`` (a worker that was stopped on purpose)."""
        self._checks.pop(name, None)
        with self._lock:
            self._failing.discard(name)

    def watch_thread(self, name: str, thread: threading.Thread) -> None:
        """Liveness: ``thread`` runs (once started)."""
        self.liveness(name, lambda: thread_check(thread))

    def watch_task(self, name: str, task: asyncio.Task[Any]) -> None:
        """Liveness: ``task`` has not ended (``forget`` it before cancelling it on shutdown)."""
        self.liveness(name, lambda: task_check(task))

    def report(self) -> dict[str, object]:
        """``{"live", "ready", "ok" (= ready), **info, "problems": [...], "checks": {name: {...}}}``."""
        results = {name: (role, self._run(name, role, probe)) for name, (role, probe) in list(self._checks.items())}
        live = all(c.ok for role, c in results.values() if role == "liveness")
        ready = live and all(c.ok for role, c in results.values() if role == "readiness")
        problems = [f"{n}: {c.reason or 'failed'}" for n, (role, c) in results.items() if role != "detail" and not c.ok]
        checks = {n: {"ok": c.ok, "affects": role, "reason": c.reason, **c.detail} for n, (role, c) in results.items()}
        return {"live": live, "ready": ready, "ok": ready, **self.info, "problems": problems, "checks": checks}

    def live_report(self) -> dict[str, object]:
        """The liveness part of ``report``: ``{"live", "problems", "checks"}`` (liveness checks only)."""
        results = {n: self._run(n, role, p) for n, (role, p) in list(self._checks.items()) if role == "liveness"}
        return {
            "live": all(c.ok for c in results.values()),
            "problems": [f"{n}: {c.reason or 'failed'}" for n, c in results.items() if not c.ok],
            "checks": {n: {"ok": c.ok, "reason": c.reason, **c.detail} for n, c in results.items()},
        }

    def _run(self, name: str, role: Role, probe: Probe) -> Check:
        try:
            check = probe()
        except Exception as e:  # a probe must never take the service down
            check = Check(False, f"check failed: {type(e).__name__}: {e}")
        if role != "detail":
            self._note(name, role, check)
        return check

    def _note(self, name: str, role: Role, check: Check) -> None:
        with self._lock:
            was_failing = name in self._failing
            if check.ok:
                self._failing.discard(name)
            else:
                self._failing.add(name)
        if check.ok and was_failing:
            log.warning("health: %s is ok again", name)
        elif not check.ok and not was_failing:
            what = "the process is not live (restart it)" if role == "liveness" else "not ready"
            log.log(logging.CRITICAL if role == "liveness" else logging.WARNING, "health: %s: %s", what, check.reason)


def thread_check(thread: threading.Thread, what: str = "thread") -> Check:
    """Ok while ``thread`` runs (or has not been started yet)."""
    if thread.is_alive() or thread.ident is None:
        return Check(True)
    return Check(False, f"{what} {thread.name!r} has died")


def task_check(task: asyncio.Task[Any]) -> Check:
    """Ok while ``task`` runs; when it has ended, why."""
    if not task.done():
        return Check(True)
    if task.cancelled():
        return Check(False, f"task {task.get_name()!r} was cancelled")
    error = task.exception()
    return Check(False, f"task {task.get_name()!r} ended" + (f": {type(error).__name__}: {error}" if error else ""))

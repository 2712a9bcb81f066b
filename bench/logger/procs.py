"""Processes the benchmark starts: spawn in their own session, wait for the port, CPU time, stop by pid.

Every process is stopped through ``Processes.stop_all`` (called from a ``finally``), by its own process
group id, never by name.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.stack import log_tail, stop_group

log = logging.getLogger(__name__)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A benchmark process could not be started (the message names its log file)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from ``/proc/<pid>/stat``."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rfind(")") + 2 :].split()
    # after the command: state is field 3, utime field 14, stime field 15 (1-based, man 5 proc)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Proc:
    """One started process and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log_file: Path
    port: int

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)


@dataclass
class Processes:
    """Starts processes under ``workdir`` and stops all of them, newest first."""

    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(
        self, name: str, cmd: list[str], port: int, env: dict[str, str] | None = None, timeout: float = 60.0
    ) -> Proc:
        """Run ``cmd`` in a new session with output to ``workdir/logs/<name>.log``; return once ``port``
        accepts connections. A process that exits or is not listening after ``timeout`` s is stopped."""
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_file = logs / f"{name}.log"
        if port_open(port):
            raise BenchError(f"port {port} for {name} is already taken")
        with log_file.open("wb") as out:
            popen = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        proc = Proc(name, popen, log_file, port)
        self.procs.append(proc)
        deadline = time.monotonic() + timeout
        while not port_open(port):
            if popen.poll() is not None or time.monotonic() > deadline:
                self.stop(proc)
                raise BenchError(f"{name} did not start on port {port}; see {log_file}\n{log_tail(log_file)}")
            time.sleep(0.1)
        log.debug("%s started (pid %d, port %d)", name, popen.pid, port)
        return proc

    def stop(self, proc: Proc, timeout: float = 30.0) -> None:
        """SIGTERM the process group of ``proc`` (SIGKILL after ``timeout`` s) and reap it."""
        if proc.popen.poll() is None:
            stop_group(proc.pid, timeout)
        try:
            proc.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) did not exit", proc.name, proc.pid)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc)
            except Exception:  # keep stopping the others
                log.exception("could not stop %s (pid %d)", proc.name, proc.pid)

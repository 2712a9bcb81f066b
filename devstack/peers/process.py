"""Run one peer server process: own process group, log file, readiness wait, stop by pid."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from devstack.peers.errors import PeerError

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True if GET ``url`` answers 2xx; never raises."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


# Variables that would make a peer venv's Python see the caller's packages instead of its own.
LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PIP_USER", "PIP_REQUIRE_VIRTUALENV")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without ``LEAKY_ENV``, plus ``extra``: the environment for a peer venv's processes."""
    env = {k: v for k, v in os.environ.items() if k not in LEAKY_ENV}
    env.update(extra or {})
    return env


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file (empty if missing)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class PeerProcess:
    """A server started in its own process group; a context manager that stops it on exit.

    Subclasses say what to run (``argv``, ``cwd``, ``env``) and which URLs must answer 2xx before it
    counts as ready (``ready_urls``).
    """

    name = "peer"
    ready_timeout = 120.0

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log_file = workdir / f"{self.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base HTTP URL, ``http://127.0.0.1:PORT``."""
        raise NotImplementedError

    def argv(self) -> Sequence[str]:
        raise NotImplementedError

    def ready_urls(self) -> Sequence[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> Self:
        """Launch the server and block until every ready URL answers; raises ``PeerError`` otherwise."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = clean_env(self.env())
        with self.log_file.open("ab") as out:
            self._proc = subprocess.Popen(
                list(self.argv()),
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log.info("started %s pid %s, log %s", self.name, self._proc.pid, self.log_file)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        proc = self._proc
        if proc is None:
            raise PeerError(f"{self.name} was not started")
        deadline = time.monotonic() + self.ready_timeout
        pending = list(self.ready_urls())
        while pending:
            code = proc.poll()
            if code is not None:
                raise PeerError(
                    f"{self.name} exited with {code} before it was ready; see {self.log_file}:\n"
                    f"{log_tail(self.log_file)}"
                )
            if time.monotonic() > deadline:
                raise PeerError(
                    f"{self.name} not ready after {self.ready_timeout:.0f}s ({pending[0]}); "
                    f"see {self.log_file}:\n{log_tail(self.log_file)}"
                )
            if http_ok(pending[0]):
                pending.pop(0)
            else:
                time.sleep(0.25)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group, SIGKILL it after ``timeout`` seconds; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                log.warning("%s pid %s ignored %s", self.name, proc.pid, sig.name)
        # Workers may outlive the leader briefly; make sure the whole group is gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def __enter__(self) -> Self:
        return self.start() if self._proc is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

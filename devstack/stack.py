"""The lifecycle of every dev-stack service: state dirs, pid files, start, readiness wait, stop, status.

A service (``devstack.base.Service``) only says how to install, configure, launch and probe itself; this
module does the rest, the same way for all of them:

- state under ``<INFERWATCH_HOME>/devstack/<service>/``: ``data/``, ``logs/server.log``, ``server.pid``
  and ``run.json`` (pid, process start time, port, start-up seconds);
- ``up``: ``install()`` then ``prepare()`` then spawn ``command()`` in a new session with stdout/stderr to
  the log file, then wait for ``is_ready()``; a service already running and ready is left alone;
- ``down``: SIGTERM to the process group ``up`` started (only if the pid is still that process: the
  start time in ``/proc/<pid>/stat`` must match the one recorded at spawn), wait, SIGKILL what is left;
- ``status``: one ``ServiceStatus`` per service, JSON-ready.

Nothing is ever looked up or stopped by name. A per-service lock file serialises concurrent ``up``/``down``
calls (two pytest sessions, or a developer's shell and a test run).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.base import Service, ServicePaths
from devstack.services import SERVICES
from inferwatch.errors import ConfigError, InferwatchError
from inferwatch.settings import CommonSettings

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 40


class DevstackError(InferwatchError):
    """A dev-stack server could not be installed, started or stopped; the message names the log file."""

    status_code = 503


class DevstackSettings(BaseSettings):
    """Ports and timeouts of the dev stack (``INFERWATCH_DEVSTACK_*``); unset ports: the service default.

    Defaults: kafka 19092 (controller on port + 1), elasticsearch 19200, opensearch 19201, prometheus 19090.
    """

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_DEVSTACK_", extra="ignore")

    kafka_port: int | None = Field(default=None, ge=1, le=65535)
    elasticsearch_port: int | None = Field(default=None, ge=1, le=65535)
    opensearch_port: int | None = Field(default=None, ge=1, le=65535)
    prometheus_port: int | None = Field(default=None, ge=1, le=65535)
    ready_timeout: float | None = Field(default=None, gt=0)
    """Overrides every service's own readiness timeout (seconds)."""
    stop_timeout: float = Field(default=60.0, gt=0)
    """Seconds between SIGTERM and SIGKILL on ``down``."""


# --- processes: identity by pid + start time, stop by process group ---------------------------------


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the stack needs."""

    pid: int
    state: str
    pgrp: int
    start_time: int
    """Clock ticks since boot at which the process started; fixed for the life of the process."""

    @property
    def alive(self) -> bool:
        """False for zombies (exited, not yet reaped)."""
        return self.state not in ("Z", "X", "x")


def proc_stat(pid: int) -> ProcStat | None:
    """Parse ``/proc/<pid>/stat``; None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (the command) is in parentheses and may contain spaces: split after the last ')'.
    rest = raw[raw.rfind(")") + 2 :].split()
    return ProcStat(pid=pid, state=rest[0], pgrp=int(rest[2]), start_time=int(rest[19]))


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_same_process(pid: int, start_time: int) -> bool:
    """True if ``pid`` is alive and is the very process that started at ``start_time``."""
    _reap(pid)
    st = proc_stat(pid)
    return st is not None and st.alive and st.start_time == start_time


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (a server and everything it forked)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = proc_stat(int(entry.name))
            if st is not None and st.pgrp == pgid and st.alive:
                members.append(st.pid)
    return members


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(pgid)
        if not group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def stop_group(pgid: int, timeout: float) -> bool:
    """SIGTERM process group ``pgid``, wait up to ``timeout`` s, then SIGKILL; True if SIGTERM sufficed.

    The caller checks the leader's identity first (``is_same_process``).
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    if _wait_group_gone(pgid, timeout):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    _wait_group_gone(pgid, 10.0)
    return False


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``path`` (empty if it does not exist)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _apt_get(args: list[str], log_file: Path) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log_file.open("a") as out:
        out.write(f"$ apt-get {' '.join(args)}\n")
        out.flush()
        return subprocess.run(
            ["apt-get", *args], stdout=out, stderr=subprocess.STDOUT, env=env, timeout=900, check=False
        ).returncode


def ensure_commands(packages: Mapping[str, str], log_file: Path) -> None:
    """Install, with ``apt-get``, the Debian package of each command missing from PATH.

    ``packages`` maps a command to its package (``{"mvn": "maven"}``). When the install fails, the
    package lists are refreshed (``apt-get update``) and the install tried once more. Package services'
    own init scripts are never relied on: the stack runs the binaries itself.
    """
    missing = sorted({pkg for cmd, pkg in packages.items() if shutil.which(cmd) is None})
    if not missing:
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log.info("installing Debian package(s) %s (log: %s)", ", ".join(missing), log_file)
    install = ["install", "-y", "--no-install-recommends", *missing]
    if _apt_get(install, log_file) != 0:
        _apt_get(["update"], log_file)
        if _apt_get(install, log_file) != 0:
            raise DevstackError(f"apt-get could not install {', '.join(missing)}; see {log_file}")
    still = [cmd for cmd in packages if shutil.which(cmd) is None]
    if still:
        raise DevstackError(f"{', '.join(still)} still missing after apt-get; see {log_file}")


# --- the stack ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """What ``up`` recorded about the process it started (``run.json``)."""

    pid: int
    start_time: int
    port: int
    url: str
    startup_seconds: float
    """Wall time of the whole ``up``: install (downloads), prepare, spawn and readiness wait."""
    ready_seconds: float
    """From spawn to ready."""
    started_at: float


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``inferwatch devstack status``."""

    name: str
    url: str
    port: int
    pid: int | None
    running: bool
    ready: bool
    startup_seconds: float | None
    """Of the current run if running, else of the last run (None if never started)."""
    log_file: str
    started: bool = False
    """True if this very ``up`` call spawned the process (False: it was already running)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_service_class(target: str) -> type[Service]:
    """Import ``"module:Class"`` and check it is a ``devstack.base.Service``."""
    module, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module), cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Service)):
        raise ConfigError(f"{target} is not a devstack.base.Service")
    return cls


def parse_only(only: str | Iterable[str] | None, table: Mapping[str, str] = SERVICES) -> list[str]:
    """Service names from ``--only kafka,prometheus`` (all of ``table``, in its order, when empty)."""
    if only is None:
        return list(table)
    items = only.split(",") if isinstance(only, str) else list(only)
    names = [n.strip() for n in items if n.strip()]
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ConfigError(f"unknown dev-stack service(s) {', '.join(unknown)}; known: {', '.join(table)}")
    return names or list(table)


class Stack:
    """Starts, stops and reports the dev-stack services under one state directory."""

    def __init__(
        self,
        settings: DevstackSettings | None = None,
        common: CommonSettings | None = None,
        ports: Mapping[str, int] | None = None,
        table: Mapping[str, str] = SERVICES,
    ) -> None:
        """``ports`` override settings per service name; ``table`` maps names to ``"module:Class"``."""
        self.settings = settings or DevstackSettings()
        self.common = common or CommonSettings()
        self.root = self.common.home / "devstack"
        self._ports = dict(ports or {})
        self.table = dict(table)

    def service_class(self, name: str) -> type[Service]:
        if name not in self.table:
            raise ConfigError(f"unknown dev-stack service {name!r}; known: {', '.join(self.table)}")
        return load_service_class(self.table[name])

    # -- locations and records

    def paths(self, name: str) -> ServicePaths:
        base = self.root / name
        return ServicePaths(data=base / "data", logs=base / "logs", cache=self.common.cache_dir)

    def pid_file(self, name: str) -> Path:
        return self.root / name / "server.pid"

    def _run_file(self, name: str) -> Path:
        return self.root / name / "run.json"

    def configured_port(self, name: str) -> int:
        """The port ``up`` uses: ``ports``, else ``INFERWATCH_DEVSTACK_<NAME>_PORT``, else the default."""
        port = self._ports.get(name) or getattr(self.settings, f"{name}_port", None)
        return int(port or self.service_class(name).default_port)

    def run_record(self, name: str) -> RunRecord | None:
        """What the last ``up`` recorded, or None."""
        try:
            return RunRecord(**json.loads(self._run_file(name).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def running(self, name: str) -> RunRecord | None:
        """The run record if the process ``up`` started is still alive (pid file present and same process)."""
        rec = self.run_record(name)
        if rec is None or not self.pid_file(name).exists():
            return None
        return rec if is_same_process(rec.pid, rec.start_time) else None

    def service(self, name: str) -> Service:
        """A service object on the port it runs on (if running) or the configured port."""
        rec = self.running(name)
        port = rec.port if rec else self.configured_port(name)
        return self.service_class(name)(self.paths(name), port)

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        lock = self.root / name / ".lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- lifecycle

    def up(self, names: Iterable[str] | None = None) -> list[ServiceStatus]:
        """Start each named service (all when None) that is not already running and ready."""
        return [self.up_one(n) for n in parse_only(names, self.table)]

    def up_one(self, name: str) -> ServiceStatus:
        """Install, prepare, spawn and wait for one service; a running, ready one is left as it is."""
        with self._locked(name):
            svc = self.service(name)
            if self.running(name) is not None:
                # Running: ready now, or still starting (an interrupted 'up'): wait, never spawn twice.
                deadline = time.monotonic() + (self.settings.ready_timeout or svc.ready_timeout)
                while not svc.is_ready():
                    if self.running(name) is None or time.monotonic() >= deadline:
                        raise DevstackError(
                            f"{name} is running (pid file {self.pid_file(name)}) but not ready; see "
                            f"{svc.paths.log_file} or run 'inferwatch devstack down --only {name}'"
                        )
                    time.sleep(0.5)
                log.info("%s already running and ready on %s", name, svc.url)
                return self.status_one(name)
            self._forget(name)
            t0 = time.monotonic()
            log.info("installing %s", name)
            svc.install()
            svc.paths.data.mkdir(parents=True, exist_ok=True)
            svc.paths.logs.mkdir(parents=True, exist_ok=True)
            svc.prepare()
            if port_in_use(svc.port):
                raise DevstackError(
                    f"port {svc.port} for {name} is taken by a process the dev stack did not start; "
                    f"stop it or pick another port (--{name}-port / INFERWATCH_DEVSTACK_{name.upper()}_PORT)"
                )
            t_spawn = time.monotonic()
            proc = self._spawn(name, svc)
            self._wait_ready(name, svc, proc, self.settings.ready_timeout or svc.ready_timeout)
            now = time.monotonic()
            st = proc_stat(proc.pid)
            rec = RunRecord(
                pid=proc.pid,
                start_time=st.start_time if st else 0,
                port=svc.port,
                url=svc.url,
                startup_seconds=round(now - t0, 2),
                ready_seconds=round(now - t_spawn, 2),
                started_at=time.time(),
            )
            self._run_file(name).write_text(json.dumps(asdict(rec), indent=2) + "\n")
            log.info("%s ready on %s in %.1fs (pid %d)", name, svc.url, rec.startup_seconds, rec.pid)
            return replace(self.status_one(name), started=True)

    def _spawn(self, name: str, svc: Service) -> subprocess.Popen[bytes]:
        logf = svc.paths.log_file
        if logf.exists():
            logf.replace(logf.with_name(logf.name + ".1"))
        cmd = svc.command()
        with logf.open("wb") as out:
            out.write(f"# inferwatch devstack: {' '.join(cmd)}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=svc.paths.data,
                env={**os.environ, **svc.env()},
                start_new_session=True,
            )
        st = proc_stat(proc.pid)
        # Record pid and start time at once, so a failing readiness wait can still be cleaned up by 'down'.
        pre = {"pid": proc.pid, "start_time": st.start_time if st else 0, "port": svc.port, "url": svc.url}
        self._run_file(name).write_text(
            json.dumps({**pre, "startup_seconds": 0.0, "ready_seconds": 0.0, "started_at": time.time()})
        )
        self.pid_file(name).write_text(f"{proc.pid}\n")
        return proc

    def _wait_ready(self, name: str, svc: Service, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        logf = svc.paths.log_file
        while not svc.is_ready():
            code = proc.poll()
            if code is not None:
                stop_group(proc.pid, self.settings.stop_timeout)  # what the server left behind in its group
                self._forget(name)
                raise DevstackError(
                    f"{name} exited with status {code} during start-up; see {logf}\n"
                    f"--- last lines of {logf} ---\n{log_tail(logf)}"
                )
            if time.monotonic() >= deadline:
                stop_group(proc.pid, self.settings.stop_timeout)
                proc.poll()
                self._forget(name)
                raise DevstackError(
                    f"{name} was not ready on {svc.url} after {timeout:.0f}s and was stopped; see {logf}\n"
                    f"--- last lines of {logf} ---\n{log_tail(logf)}"
                )
            time.sleep(0.5)

    def _forget(self, name: str) -> None:
        self.pid_file(name).unlink(missing_ok=True)

    def down(self, names: Iterable[str] | None = None) -> list[ServiceStatus]:
        """Stop each named service (all when None, in reverse table order) that ``up`` started."""
        return [self.down_one(n) for n in reversed(parse_only(names, self.table))]

    def down_one(self, name: str) -> ServiceStatus:
        """Stop the process group ``up`` started for ``name``; never signal a pid that is not that process."""
        with self._locked(name):
            rec = self.run_record(name)
            if rec is not None and self.pid_file(name).exists():
                if is_same_process(rec.pid, rec.start_time):
                    log.info("stopping %s (pid %d)", name, rec.pid)
                    if not stop_group(rec.pid, self.settings.stop_timeout):
                        log.warning("%s did not stop on SIGTERM; killed", name)
                    if group_members(rec.pid):
                        raise DevstackError(f"{name} (process group {rec.pid}) survived SIGKILL")
                else:
                    log.info("%s was not running (stale pid file %s removed)", name, self.pid_file(name))
            self._forget(name)
            return self.status_one(name)

    # -- status

    def status(self, names: Iterable[str] | None = None) -> list[ServiceStatus]:
        return [self.status_one(n) for n in parse_only(names, self.table)]

    def status_one(self, name: str) -> ServiceStatus:
        rec = self.run_record(name)
        alive = self.running(name)
        svc = self.service(name)
        return ServiceStatus(
            name=name,
            url=svc.url,
            port=svc.port,
            pid=alive.pid if alive else None,
            running=alive is not None,
            ready=alive is not None and svc.is_ready(),
            startup_seconds=rec.startup_seconds if rec and rec.startup_seconds else None,
            log_file=str(svc.paths.log_file),
        )

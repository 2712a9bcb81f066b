"""The dev-stack lifecycle: detached start, pid files, idempotent up, stop by process group, status.

Most tests drive a tiny real HTTP server (``FakeService``) in a temporary state directory, so failures
(early exit, readiness timeout, a reused pid, a taken port) can be provoked; one drives the real
Prometheus through the ``inferwatch devstack`` command line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from devstack.base import Service
from devstack.stack import DevstackError, DevstackSettings, Stack, ensure_commands, parse_only, proc_stat
from inferwatch.cli import main
from inferwatch.errors import ConfigError
from inferwatch.settings import CommonSettings

FAKE_SERVER = r"""
import http.server, subprocess, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open("child.pid", "w").write(str(child.pid))
print("fake server says hello in mode", mode, flush=True)
if mode == "exit":
    sys.exit(3)
if mode == "hang":
    time.sleep(600)
http.server.HTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler).serve_forever()
"""

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gone(pid: int) -> bool:
    st = proc_stat(pid)
    return st is None or not st.alive


class FakeService(Service):
    """A Python HTTP server that forks a long-sleeping child (so group stop is observable)."""

    name = "fake"
    default_port = 1
    ready_timeout: ClassVar[float] = 30.0
    mode: ClassVar[str] = "serve"
    installs: ClassVar[int] = 0

    def install(self) -> None:
        type(self).installs += 1

    def prepare(self) -> None:
        (self.paths.data / "server.py").write_text(FAKE_SERVER)

    def command(self) -> list[str]:
        return [sys.executable, str(self.paths.data / "server.py"), str(self.port), self.mode]

    def is_ready(self) -> bool:
        try:
            with _DIRECT.open(self.url, timeout=1.0) as resp:
                return int(resp.status) == 200
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def child_pid(self) -> int:
        return int((self.paths.data / "child.pid").read_text())


class ExitingService(FakeService):
    mode = "exit"


class HangingService(FakeService):
    mode = "hang"
    ready_timeout = 3.0


TABLE = {
    "fake": f"{__name__}:FakeService",
    "exiting": f"{__name__}:ExitingService",
    "hanging": f"{__name__}:HangingService",
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    common = CommonSettings(home=tmp_path / "home", cache_dir=tmp_path / "cache")
    port = free_port()
    s = Stack(DevstackSettings(stop_timeout=5), common, ports=dict.fromkeys(TABLE, port), table=TABLE)
    yield s
    s.down()  # never leave a fake server behind, whatever the test did


def test_up_spawns_a_detached_server_records_its_pid_and_is_idempotent(stack: Stack) -> None:
    before = FakeService.installs
    first = stack.up_one("fake")
    assert first.started and first.running and first.ready and first.pid is not None
    assert stack.pid_file("fake").read_text().strip() == str(first.pid)
    assert os.getsid(first.pid) == first.pid  # its own session: a terminal's Ctrl-C does not reach it
    assert first.startup_seconds is not None and first.startup_seconds > 0
    log_file = Path(first.log_file)
    assert log_file == stack.root / "fake" / "logs" / "server.log"

    again = stack.up_one("fake")
    assert not again.started and again.pid == first.pid  # already running and ready: nothing to do
    assert FakeService.installs == before + 1
    assert "hello in mode serve" in log_file.read_text()


def test_down_stops_the_whole_process_group_and_leaves_nothing(stack: Stack) -> None:
    st = stack.up_one("fake")
    assert st.pid is not None
    child = FakeService(stack.paths("fake"), st.port).child_pid()
    assert not gone(st.pid) and not gone(child)

    after = stack.down_one("fake")
    assert not after.running and after.pid is None
    assert gone(st.pid) and gone(child)
    assert not stack.pid_file("fake").exists()
    assert stack.down_one("fake").running is False  # down twice is harmless


def test_down_never_signals_a_pid_that_is_no_longer_the_server(stack: Stack) -> None:
    st = stack.up_one("fake")
    assert st.pid is not None
    stack.down_one("fake")
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        # Pretend the server's pid was reused by the bystander: same pid, different start time.
        run = json.loads((stack.root / "fake" / "run.json").read_text())
        run["pid"] = bystander.pid
        (stack.root / "fake" / "run.json").write_text(json.dumps(run))
        stack.pid_file("fake").write_text(str(bystander.pid))
        assert stack.running("fake") is None
        stack.down_one("fake")
        assert bystander.poll() is None  # still alive: never signalled
        assert not stack.pid_file("fake").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_server_that_exits_during_start_up_is_reported_with_its_log(stack: Stack) -> None:
    with pytest.raises(DevstackError) as exc:
        stack.up_one("exiting")
    message = str(exc.value)
    log_file = stack.root / "exiting" / "logs" / "server.log"
    assert "exited with status 3" in message
    assert str(log_file) in message
    assert "hello in mode exit" in message  # the last lines of the log travel with the error
    assert not stack.pid_file("exiting").exists()
    assert gone(ExitingService(stack.paths("exiting")).child_pid())  # nothing it forked is left behind


def test_readiness_timeout_stops_the_server_and_names_the_log_file(stack: Stack) -> None:
    with pytest.raises(DevstackError) as exc:
        stack.up_one("hanging")
    message = str(exc.value)
    assert "not ready" in message and "after 3s" in message
    assert str(stack.root / "hanging" / "logs" / "server.log") in message
    child = HangingService(stack.paths("hanging")).child_pid()
    run = json.loads((stack.root / "hanging" / "run.json").read_text())
    assert gone(run["pid"]) and gone(child)
    assert stack.status_one("hanging").running is False


def test_up_waits_for_a_server_still_starting_and_never_spawns_a_second_one(stack: Stack) -> None:
    svc = stack.service("hanging")
    for d in (svc.paths.data, svc.paths.logs):
        d.mkdir(parents=True)
    svc.prepare()
    proc = stack._spawn("hanging", svc)  # as if an earlier 'up' was interrupted during its wait
    with pytest.raises(DevstackError, match=r"running .* but not ready"):
        stack.up_one("hanging")
    rec = stack.running("hanging")
    assert rec is not None and rec.pid == proc.pid  # still the same, single process
    stack.down_one("hanging")
    proc.wait(timeout=5)
    assert gone(proc.pid)


def test_a_port_taken_by_another_process_is_refused(stack: Stack) -> None:
    port = stack.configured_port("fake")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(DevstackError, match=f"port {port} for fake is taken"):
            stack.up_one("fake")
    assert not stack.pid_file("fake").exists()


def test_only_accepts_known_names() -> None:
    assert parse_only("kafka, prometheus") == ["kafka", "prometheus"]
    assert parse_only(None) == ["kafka", "elasticsearch", "opensearch", "prometheus"]
    with pytest.raises(ConfigError, match="zookeeper"):
        parse_only("kafka,zookeeper")


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INFERWATCH_HOME", str(tmp_path / "home"))
    for name in ("KAFKA", "ELASTICSEARCH", "OPENSEARCH", "PROMETHEUS"):
        monkeypatch.delenv(f"INFERWATCH_DEVSTACK_{name}_PORT", raising=False)
    return tmp_path / "home"


def test_status_json_prints_default_ports_and_honours_flags_and_env(
    cli_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devstack", "status", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {n: r["port"] for n, r in rows.items()} == {
        "kafka": 19092,
        "elasticsearch": 19200,
        "opensearch": 19201,
        "prometheus": 19090,
    }
    for row in rows.values():
        assert set(row) >= {"name", "url", "port", "pid", "running", "ready", "startup_seconds", "log_file"}
        assert row["running"] is False and row["pid"] is None
        assert row["log_file"] == str(cli_home / "devstack" / row["name"] / "logs" / "server.log")

    monkeypatch.setenv("INFERWATCH_DEVSTACK_KAFKA_PORT", "29092")
    assert main(["devstack", "status", "--json", "--only", "kafka,prometheus", "--prometheus-port", "29090"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["kafka"]["url"], rows["prometheus"]["url"]) == ("127.0.0.1:29092", "http://127.0.0.1:29090")

    assert main(["devstack", "status"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["NAME", "URL", "PORT"]
    assert main(["devstack", "up", "--only", "nope"]) == 2


@pytest.mark.prometheus
def test_cli_up_status_down_on_a_real_server_leaves_no_process(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(free_port())
    flags = ["--only", "prometheus", "--prometheus-port", port]
    try:
        assert main(["devstack", "up", *flags]) == 0
        assert "prometheus: started on" in capsys.readouterr().out
        assert main(["devstack", "up", *flags]) == 0
        assert "prometheus: already running" in capsys.readouterr().out

        assert main(["devstack", "status", "--json", *flags]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert row["running"] and row["ready"] and row["port"] == int(port)
        assert row["startup_seconds"] > 0
        pid = row["pid"]
        pid_file = cli_home / "devstack" / "prometheus" / "server.pid"
        assert pid_file.read_text().strip() == str(pid)
        assert (cli_home / "devstack" / "prometheus" / "data" / "tsdb").is_dir()
    finally:
        assert main(["devstack", "down", *flags]) == 0
    assert "prometheus: stopped" in capsys.readouterr().out
    assert gone(pid)
    assert not pid_file.exists()
    assert main(["devstack", "status", "--json", *flags]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["running"], row["pid"]) == (False, None)
    assert row["startup_seconds"] > 0  # the last start-up time stays visible


def test_ensure_commands_installs_only_whats_missing_and_retries_after_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir, calls = tmp_path / "bin", tmp_path / "apt-calls"
    bin_dir.mkdir()
    fake_apt = bin_dir / "apt-get"  # records its arguments and fails, like apt-get with stale lists
    fake_apt.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 100\n')
    fake_apt.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    log_file = tmp_path / "apt.log"

    ensure_commands({"sh": "dash"}, log_file)  # present: apt-get is not run at all
    assert not calls.exists()

    with pytest.raises(DevstackError, match=str(log_file)):
        ensure_commands({"sh": "dash", "no-such-tool-iw": "no-such-pkg"}, log_file)
    assert calls.read_text().splitlines() == [
        "install -y --no-install-recommends no-such-pkg",
        "update",
        "install -y --no-install-recommends no-such-pkg",
    ]

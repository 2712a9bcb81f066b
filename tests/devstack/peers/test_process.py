"""``PeerProcess``: readiness wait, errors naming the log file, stop of the whole process group."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from devstack.peers.errors import PeerError
from devstack.peers.process import PeerProcess, free_port, http_ok

# A server that also forks a grandchild sleeping in the same process group.
HTTP_SERVER_WITH_CHILD = """
import http.server, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open("child.pid", "w").write(str(child.pid))
handler = http.server.SimpleHTTPRequestHandler
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
"""


class ToyServer(PeerProcess):
    name = "toy"
    ready_timeout = 20.0

    def __init__(self, workdir: Path, script: str) -> None:
        super().__init__(workdir)
        self.script = script
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> Sequence[str]:
        return [sys.executable, "-c", self.script, str(self.port)]

    def ready_urls(self) -> Sequence[str]:
        return [f"{self.url}/"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); treat it as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_ready_then_stop_kills_the_process_group(tmp_path: Path) -> None:
    with ToyServer(tmp_path, HTTP_SERVER_WITH_CHILD) as server:
        assert http_ok(server.url + "/")
        leader = server.pid
        assert leader is not None
        child = int((tmp_path / "child.pid").read_text())
        assert alive(leader) and alive(child)
    deadline = time.monotonic() + 10
    while (alive(leader) or alive(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(leader) and not alive(child)
    assert not http_ok(server.url + "/", timeout=0.5)
    server.stop()  # idempotent


def test_early_exit_names_the_log_file(tmp_path: Path) -> None:
    server = ToyServer(tmp_path, "import sys; print('boom: bad config'); sys.exit(3)")
    with pytest.raises(PeerError) as info:
        server.start()
    message = str(info.value)
    assert "exited with 3" in message
    assert str(server.log_file) in message
    assert "boom: bad config" in message
    assert server.pid is None


def test_not_ready_in_time_is_stopped(tmp_path: Path) -> None:
    server = ToyServer(tmp_path, "import time; time.sleep(600)")
    server.ready_timeout = 1.0
    with pytest.raises(PeerError, match="not ready after"):
        server.start()
    assert server.pid is None

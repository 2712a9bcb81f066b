"""Real processes for end-to-end logger tests: `inferwatch logger` and the demo's iris model server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.servers import free_port

CLI = [sys.executable, "-m", "inferwatch.cli"]
MODEL_SERVER = (
    "import sys, uvicorn\n"
    "from inferwatch.demo.model_server import create_model_app, train_iris\n"
    "uvicorn.run(create_model_app(train_iris()), host='127.0.0.1', port=int(sys.argv[1]), log_level='warning')\n"
)


class ServiceProcess:
    """A server process with its output in ``log_path``, returned once ``probe`` answers (any status)."""

    def __init__(self, argv: Sequence[str], log_path: Path, env: dict[str, str], probe: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(list(argv), env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(probe, timeout=1)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() >= deadline:
                    output = self.output()
                    self.end(signal.SIGKILL)  # never leave a process that did not come up behind
                    raise AssertionError(f"{' '.join(argv)} did not answer {probe}:\n{output}") from None
                time.sleep(0.1)

    def output(self) -> str:
        if not self._log.closed:  # after end(): what it wrote is in the file
            self._log.flush()
        return self.log_path.read_text()

    def end(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 120) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._log.close()
        return code


class ModelProcess(ServiceProcess):
    """The demo's iris model server (Seldon v1, V2, KServe v1) in its own process."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        super().__init__(
            [sys.executable, "-c", MODEL_SERVER, str(self.port)],
            tmp / f"model-{self.port}.log",
            dict(os.environ),
            f"http://127.0.0.1:{self.port}/health/ping",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class LoggerProcess(ServiceProcess):
    """One ``inferwatch logger`` process in proxy mode, its spool under ``tmp/spool``."""

    def __init__(self, tmp: Path, upstream: str, sinks: Sequence[str], *extra: str) -> None:
        self.port, self.mport = free_port(), free_port()
        argv = [*CLI, "logger", "--upstream", upstream, "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--metrics-port", str(self.mport), "--spool-dir", str(tmp / "spool")]
        for sink in sinks:
            argv += ["--sink", sink]
        super().__init__(
            [*argv, *extra],
            tmp / f"logger-{self.port}.log",
            {**os.environ, "INFERWATCH_HOME": str(tmp)},
            f"http://127.0.0.1:{self.mport}/health/live",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.mport}/metrics").text

    def metric(self, name: str, **labels: str) -> float:
        """One sample of the logger's /metrics (0 when absent)."""
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        prefix = f"{name}{{{want}}} " if labels else f"{name} "
        for line in self.metrics().splitlines():
            if line.startswith(prefix):
                return float(line.split()[-1])
        return 0.0

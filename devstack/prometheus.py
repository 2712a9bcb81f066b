"""Prometheus and promtool from Debian's ``prometheus`` package, run on 127.0.0.1 by the dev stack.

The package is installed with ``apt-get`` when ``prometheus`` or ``promtool`` is missing; its own init
script or systemd unit is never used. The stack writes ``prometheus.yml`` with a ``file_sd_configs`` job
that watches ``data/targets/*.json``: a test adds a scrape target by writing one JSON file
(``add_scrape_target``). Scrapes and rule evaluation run every second so tests see samples quickly.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.base import Service, ServicePaths
from devstack.stack import ensure_commands
from inferwatch.errors import InferwatchError

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Talk straight to 127.0.0.1 whatever ``http_proxy`` says."""


class PrometheusError(InferwatchError):
    """Installing Prometheus, a promtool check or a query failed; the message says which and why."""

    status_code = 503


class PrometheusSettings(BaseSettings):
    """How the dev-stack Prometheus runs (``INFERWATCH_DEVSTACK_PROMETHEUS_*``).

    The port is in ``devstack.stack.DevstackSettings``.
    """

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_DEVSTACK_PROMETHEUS_", extra="ignore")

    scrape_interval: str = Field(default="1s", pattern=r"^\d+(ms|s|m)$")
    retention: str = "2d"


def ensure_installed(log_file: Path) -> None:
    """Install Debian's ``prometheus`` package unless ``prometheus`` and ``promtool`` are both on PATH."""
    ensure_commands({"prometheus": "prometheus", "promtool": "prometheus"}, log_file)


def promtool(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``promtool ARGS`` and return the completed process (the caller checks ``returncode``)."""
    exe = shutil.which("promtool")
    if exe is None:
        raise PrometheusError("promtool is not installed: run 'inferwatch devstack up --only prometheus'")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, check=False)


def check_config(config_file: Path) -> str:
    """``promtool check config``; returns its output, raises ``PrometheusError`` if the config is invalid."""
    proc = promtool("check", "config", str(config_file))
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise PrometheusError(f"promtool check config {config_file} failed:\n{output}")
    return output


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


class PrometheusService(Service):
    """One Prometheus server on 127.0.0.1 scraping the targets tests register under ``targets_dir``."""

    name = "prometheus"
    default_port = 19090
    ready_timeout = 60.0

    def __init__(
        self, paths: ServicePaths, port: int | None = None, settings: PrometheusSettings | None = None
    ) -> None:
        super().__init__(paths, port)
        self.settings = settings or PrometheusSettings()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.paths.data / "prometheus.yml"

    @property
    def targets_dir(self) -> Path:
        """Every ``*.json`` file here is a file_sd target group list, re-read within a second."""
        return self.paths.data / "targets"

    def install(self) -> None:
        """Install Debian's ``prometheus`` package if its binaries are missing (the log is in the cache)."""
        ensure_installed(self.paths.cache / "apt" / "prometheus.log")

    def config(self) -> dict[str, Any]:
        """The scrape configuration (written as JSON, which is valid YAML)."""
        interval = self.settings.scrape_interval
        return {
            "global": {
                "scrape_interval": interval,
                "evaluation_interval": interval,
                "scrape_timeout": interval,
            },
            "scrape_configs": [
                {
                    "job_name": "devstack",
                    "file_sd_configs": [{"files": [str(self.targets_dir / "*.json")], "refresh_interval": "1s"}],
                }
            ],
        }

    def prepare(self) -> None:
        """Write ``prometheus.yml`` and create the targets and TSDB directories."""
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        (self.paths.data / "tsdb").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(self.config(), indent=2) + "\n")

    def command(self) -> list[str]:
        return [
            shutil.which("prometheus") or "prometheus",
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.paths.data / 'tsdb'}",
            f"--storage.tsdb.retention.time={self.settings.retention}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=info",
        ]

    def is_ready(self) -> bool:
        try:
            with _DIRECT.open(f"{self.url}/-/ready", timeout=2.0) as resp:
                return int(resp.status) == 200
        except (OSError, http.client.HTTPException):
            return False

    # -- helpers for tests and dashboards

    def add_scrape_target(
        self, job: str, address: str, labels: dict[str, str] | None = None, metrics_path: str = "/metrics"
    ) -> Path:
        """Have Prometheus scrape ``http://ADDRESS{metrics_path}`` as job ``job``; returns the target file.

        The file is written atomically; Prometheus picks it up within ``refresh_interval`` (1 s).
        """
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        group = {
            "targets": [address],
            "labels": {**(labels or {}), "job": job, "__metrics_path__": metrics_path},
        }
        path = self.targets_dir / f"{_slug(job)}--{_slug(address)}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([group]))
        tmp.replace(path)
        return path

    def remove_scrape_target(self, job: str, address: str) -> None:
        """Stop scraping a target added with ``add_scrape_target``."""
        with contextlib.suppress(FileNotFoundError):
            (self.targets_dir / f"{_slug(job)}--{_slug(address)}.json").unlink()

    def check_config(self) -> str:
        """``promtool check config`` on the generated configuration."""
        return check_config(self.config_file)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query through the HTTP API; returns ``data.result`` (raises on an API error)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            with _DIRECT.open(url, timeout=10.0) as resp:
                body = json.load(resp)
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise PrometheusError(f"query {expr!r} against {self.url} failed: {e}") from e
        if body.get("status") != "success":
            raise PrometheusError(f"query {expr!r} failed: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

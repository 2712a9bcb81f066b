"""`inferwatch logger` as users run it: a real process, its --help, and SIGTERM draining everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferwatch.demo.model_server import create_model_app, train_iris
from inferwatch.logger.settings import LoggerSettings
from inferwatch.stores import RecordQuery
from inferwatch.stores.sqlite import SQLiteStore
from tests.cli_help import assert_help_matches_settings, help_entries, help_text
from tests.servers import free_port, serving

CLI = [sys.executable, "-m", "inferwatch.cli"]


@pytest.fixture(scope="module")
def iris_url() -> Iterator[str]:
    with serving(create_model_app(train_iris())) as url:
        yield url


def test_help_documents_modes_flags_and_env() -> None:
    out = subprocess.run([*CLI, "logger", "--help"], capture_output=True, text=True, check=True).stdout
    for word in (
        "--upstream",
        "--sink",
        "--metrics-port",
        "--sample-rate",
        "--max-payload-bytes",
        "--redact-path",
        "--redact-field",
        "--pairing-ttl",
        "x-request-id",
        "Seldon-Skip-Logging",
        "INFERWATCH_LOGGER_",
    ):
        assert word in out, word


def test_bad_settings_exit_2_with_a_clear_message() -> None:
    out = subprocess.run([*CLI, "logger", "--upstream", "ftp://x"], capture_output=True, text=True)
    assert out.returncode == 2 and "upstream must be an http:// or https:// URL" in out.stderr
    out = subprocess.run([*CLI, "logger", "--sink", "nosuch://x"], capture_output=True, text=True)
    assert out.returncode == 2 and "supported schemes" in out.stderr


def test_sigterm_delivers_every_accepted_record(tmp_path: Path, iris_url: str) -> None:
    port, mport = free_port(), free_port()
    db = tmp_path / "store.db"
    env = {**os.environ, "INFERWATCH_HOME": str(tmp_path)}
    log = (tmp_path / "logger.log").open("w")
    # a long linger keeps records in memory until shutdown forces them out
    proc = subprocess.Popen(
        [
            *CLI,
            "logger",
            "--upstream",
            iris_url,
            "--port",
            str(port),
            "--metrics-port",
            str(mport),
            "--host",
            "127.0.0.1",
            "--sink",
            f"sqlite:///{db}",
            "--linger-ms",
            "60000",
            "--batch-size",
            "100000",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    ids = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{mport}/health/live")
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "logger.log").read_text()
                time.sleep(0.1)
        with httpx.Client() as http:
            for i in range(200):
                r = http.post(
                    f"http://127.0.0.1:{port}/api/v1.0/predictions",
                    json={"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2 + i / 1000]]}},
                )
                assert r.status_code == 200
                # the model's own Server/Date headers come through once; the logger adds none
                assert len(r.headers.get_list("date")) == 1 and len(r.headers.get_list("server")) == 1
                ids.append(r.headers["x-request-id"])
        metrics = httpx.get(f"http://127.0.0.1:{mport}/metrics").text
        assert 'inferwatch_records_received_total{source="proxy"} 200.0' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        log.close()
    assert code == 0, (tmp_path / "logger.log").read_text()
    store = SQLiteStore(db)
    stored = {r.id for r in store.query(RecordQuery(limit=1000))}
    store.close()
    assert stored == set(ids)


def test_help_shows_every_setting_as_a_flag_with_its_own_default_and_env_var() -> None:
    assert_help_matches_settings(["logger"], LoggerSettings, "INFERWATCH_LOGGER_")


def test_the_flags_users_call_stay() -> None:
    """Users' scripts call these (as of the flags derived from the settings); new ones may come, none may go."""
    flags = set(help_entries(["logger"]))
    assert flags >= {
        "--upstream", "--host", "--port", "--metrics-port", "--sink", "--sample-rate", "--max-payload-bytes",
        "--redact-path", "--redact-field", "--pairing-ttl", "--queue-size", "--batch-size", "--linger-ms",
        "--max-retries", "--upstream-timeout", "--durability", "--spool-dir", "--spool-max-bytes", "--protocol",
        "--model-name", "--deployment", "--namespace", "--endpoint",
    }  # fmt: skip
    assert "--durability {async,sync}" in help_text(["logger"])
    assert "--redact-unparsed {drop,keep}" in help_text(["logger"])

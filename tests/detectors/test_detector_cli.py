"""``inferwatch detector serve`` as a real process: start-up errors, serving, metrics port, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferwatch.cli import main
from inferwatch.detectors.settings import DetectorSettings
from tests.cli_help import assert_help_matches_settings, help_entries, help_text
from tests.servers import free_port

CLI = [sys.executable, "-m", "inferwatch.cli", "detector"]


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "INFERWATCH_HOME": str(tmp / "home")}


def test_missing_detector_dir_exits_2_naming_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["detector", "serve", "--detector", str(tmp_path / "none"), "--state-dir", str(tmp_path)]) == 2
    assert f"detector directory {tmp_path / 'none'} does not exist" in caplog.text
    assert "inferwatch detector fit" in caplog.text


def test_untrusted_joblib_exits_2_asking_for_the_flag(
    iforest_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["detector", "serve", "--detector", str(iforest_dir), "--state-dir", str(tmp_path)]) == 2
    assert "detector.joblib" in caplog.text and "--trust-artifacts" in caplog.text


def test_serve_process_answers_and_exposes_metrics(ks_dir: Path, tmp_path: Path, drifted: Any) -> None:
    port, mport = free_port(), free_port()
    argv = [*CLI, "serve", "--detector", str(ks_dir), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--metrics-port", str(mport), "--batch-size", "50", "--state-dir", str(tmp_path / "state")]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(argv, env=_env(tmp_path), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{mport}/health/live", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        body = {"data": {"ndarray": drifted.tolist()}}
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1.0/predictions", json=body, timeout=30)
        assert r.status_code == 200 and r.json()["jsonData"]["data"]["is_drift"] == 1
        metrics = httpx.get(f"http://127.0.0.1:{mport}/metrics").text
        assert 'seldon_metric_drift_is_drift{feature="sepal length (cm)"} 1.0' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        log.close()
    assert code == 0


def test_help_lists_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["detector", "--help"])
    out = capsys.readouterr().out
    assert "cvm-online" in out and "--trust-artifacts" in out


CONSUME_ANSWERS_NOTHING = ("port", "protocol", "event_type", "event_source", "reply_url", "reply_timeout")


@pytest.mark.parametrize(
    ("action", "not_flags"),
    [("serve", ()), ("consume", (*CONSUME_ANSWERS_NOTHING, "feedback_store"))],
)
def test_help_shows_every_setting_as_a_flag_with_its_own_default_and_env_var(
    action: str, not_flags: tuple[str, ...]
) -> None:
    assert_help_matches_settings(["detector", action], DetectorSettings, "INFERWATCH_DETECTOR_", not_flags)


def test_the_flags_users_call_stay() -> None:
    """Users' scripts call these (as of the flags derived from the settings); new ones may come, none may go."""
    both = {
        "--detector", "--trust-artifacts", "--host", "--metrics-port", "--batch-size", "--window-seconds",
        "--state-dir", "--checkpoint-every", "--results-sink", "--results-spool-dir", "--results-model",
        "--results-deployment", "--results-namespace", "--results-endpoint",
    }  # fmt: skip
    serve_only = {"--port", "--model-name", "--protocol", "--event-type", "--event-source", "--reply-url"}
    assert set(help_entries(["detector", "serve"])) >= both | serve_only | {"--feedback-store"}
    assert set(help_entries(["detector", "consume"])) >= both | {"--bootstrap", "--topic", "--group"}
    fit = {"--kind", "--reference", "--feature-names", "--option", "--out", "--no-progress"}
    assert set(help_entries(["detector", "fit"])) >= fit
    assert "--feedback-store URI" in help_text(["detector", "serve"])
    assert "--results-sink URI" in help_text(["detector", "consume"])

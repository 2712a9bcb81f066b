"""``inferwatch explainer`` as a real process: fit at start-up, explain, metrics, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx

from inferwatch.explainers.kinds import KINDS
from inferwatch.explainers.settings import ExplainerSettings
from tests.cli_help import assert_help_matches_settings, help_entries, help_text
from tests.explainers.conftest import IRIS_REFERENCE, SETOSA
from tests.servers import free_port


def _wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"explainer exited early with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {seconds}s")


def test_explainer_process_serves_and_stops_on_sigterm(demo_model: str) -> None:
    port, metrics_port = free_port(), free_port()
    argv = [
        sys.executable, "-m", "inferwatch.cli", "explainer", "--kind", "anchor_tabular", "--model-url", demo_model,
        "--reference", str(IRIS_REFERENCE), "--option", "target=species", "--option", "seed=0",
        "--host", "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics_port),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health/status", proc)
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1.0/explain", json={"data": {"ndarray": [SETOSA]}}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["raw"]["prediction"] == [0]
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert 'inferwatch_explainer_explain_seconds_count{kind="anchor_tabular"} 1.0' in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert proc.stderr is not None
        log = proc.stderr.read().decode()
        assert "explainer anchor_tabular ready" in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_help_shows_every_setting_as_a_flag_with_its_own_default_and_env_var() -> None:
    assert_help_matches_settings(["explainer"], ExplainerSettings, "INFERWATCH_EXPLAINER_")


def test_the_flags_users_call_stay() -> None:
    """Users' scripts call these (as of the flags derived from the settings); new ones may come, none may go."""
    assert set(help_entries(["explainer"])) >= {
        "--kind", "--model-url", "--protocol", "--model-name", "--model-output", "--reference", "--explainer-dir",
        "--trust-artifacts", "--option", "--host", "--port", "--metrics-port", "--timeout", "--model-timeout",
        "--retries", "--batch-size", "--max-concurrency", "--results-sink", "--results-spool-dir", "--results-model",
        "--results-deployment", "--results-namespace", "--results-endpoint",
    }  # fmt: skip


def test_help_names_every_kind_and_calls_none_unavailable() -> None:
    text = help_text(["explainer"])
    kinds_part = text[text.index("Kinds:") : text.index("Endpoints:")]
    assert [k for k in KINDS if k not in kinds_part] == []
    assert "not available" not in text

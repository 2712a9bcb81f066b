"""The detector server under hostile input: limits answered 4xx naming the flag, and a large body decoded off the
event loop while small requests keep being answered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from inferwatch.detectors.app import create_app
from inferwatch.detectors.core import DetectorCore
from tests.servers import free_port, serving

CLI = [sys.executable, "-m", "inferwatch.cli", "detector", "serve"]
MakeCore = Callable[..., DetectorCore]
SMALL = orjson.dumps({"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}})


def test_deep_json_is_400_naming_the_limit(ks_core: DetectorCore) -> None:
    deep = b'{"meta": ' + b"[" * 300 + b"]" * 300 + b', "data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}'
    with serving(create_app(ks_core.settings, ks_core)) as url:
        for path in ("/predict", "/transform-input", "/v2/models/detector/infer"):
            r = httpx.post(url + path, content=deep)
            assert r.status_code == 400, (path, r.text)
            assert r.json()["error"]["details"] == {"limit": "json_depth"} and "--max-json-depth" in r.text
        structured = b'{"specversion": "1.0", "id": "e", "source": "s", "type": "io.seldon.serving.inference.request"'
        r = httpx.post(
            url + "/",
            content=structured + b', "data": ' + b"[" * 300 + b"]" * 300 + b"}",
            headers={"content-type": "application/cloudevents+json"},
        )
        assert r.status_code == 400 and "--max-json-depth" in r.text
    assert ks_core.registry.get_sample_value("inferwatch_http_rejected_total", {"limit": "json_depth"}) == 4


def test_a_body_over_the_limit_is_413_naming_it(ks_dir: Path, tmp_path: Path, make_core: MakeCore) -> None:
    core = make_core(ks_dir, tmp_path / "state", max_body_bytes=1000)
    with serving(create_app(core.settings, core)) as url:
        r = httpx.post(url + "/predict", content=b" " * 1001 + SMALL)
        assert r.status_code == 413 and "--max-body-bytes" in r.json()["error"]["message"]
        assert httpx.post(url + "/predict", content=SMALL).status_code == 200


def test_small_requests_are_answered_while_a_large_body_is_decoded(ks_dir: Path, tmp_path: Path) -> None:
    """``inferwatch detector serve`` as a process (its own GIL) gets ~25 MB of rows with one feature too many: all
    decoding, then 422. Liveness probes sent meanwhile are answered in a fraction of the time the large one takes
    (decoded on the event loop, a probe waited for the whole decode)."""
    big = orjson.dumps({"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2, float(i)] for i in range(600_000)]}})
    port = free_port()
    argv = [*CLI, "--detector", str(ks_dir), "--host", "127.0.0.1", "--port", str(port), "--metrics-port", "0"]
    argv += ["--state-dir", str(tmp_path / "state")]
    url = f"http://127.0.0.1:{port}"
    done: dict[str, Any] = {}
    with (tmp_path / "serve.log").open("w") as log:
        proc = subprocess.Popen(argv, env={**os.environ, "INFERWATCH_HOME": str(tmp_path)}, stdout=log, stderr=log)
        try:
            _wait_live(url, proc, tmp_path / "serve.log")

            def send_big() -> None:
                started = time.monotonic()
                done["status"] = httpx.post(url + "/predict", content=big, timeout=120).status_code
                done["seconds"] = time.monotonic() - started

            thread = threading.Thread(target=send_big)
            thread.start()
            small: list[float] = []
            with httpx.Client(timeout=120) as client:
                while thread.is_alive():
                    started = time.monotonic()
                    assert client.get(url + "/v2/health/live").status_code == 200
                    small.append(time.monotonic() - started)
                    time.sleep(0.01)
            thread.join()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    assert done["status"] == 422  # it was decoded in full: the feature count is checked after decoding
    assert len(small) >= 3, small
    assert max(small) < done["seconds"] / 2, (max(small), done["seconds"])


def _wait_live(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/v2/health/live", timeout=1)
            return
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

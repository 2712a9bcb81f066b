"""The ways a batch is checked: in-process ``predict``, the ``inferwatch detector serve`` process, MLServer.

- ``fit_detector_dir``: one saved detector directory per case, the artefact every variant loads
  (KS through ``inferwatch.detectors.fit``; MMD with plain alibi-detect ``save_detector``, the TensorFlow backend).
- ``Direct``: ``load_detector(DIR).predict(batch)`` in this process.
- ``HttpVariant``: one keep-alive ``httpx.Client`` POSTing pre-encoded bodies to a server (inferwatch V2 or
  Seldon, MLServer V2), timed from before the request to the parsed answer.
- ``start_inferwatch`` / ``mlserver``: the servers, started as their own processes on 127.0.0.1 and stopped
  by process group (``bench.logger.procs.Processes`` / ``devstack.peers.mlserver.MLServerServer``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from bench.detectors.data import Array, Case, feature_names, reference
from bench.logger.procs import BenchError, Proc, Processes, cpu_seconds, free_port
from devstack.peers.errors import PeerError
from devstack.peers.mlserver import MLServerServer, prepare_detector
from devstack.peers.process import http_ok
from devstack.peers.venvs import MLSERVER_ALIBI_DETECT, STAMP, ensure_venv, venv_path

P_VAL = 0.05
READY_TIMEOUT = 300.0
"""Seconds a server may take to import alibi-detect (and TensorFlow) and load its detector."""
REQUEST_TIMEOUT = 120.0
Verdict = Callable[[Any], int | None]
Result = tuple[float, float, int | None]
"""Wall seconds, CPU seconds of the process that ran the detector, and the ``is_drift`` it returned."""


def tf_unavailable() -> str | None:
    """Why the TensorFlow case (MMD) cannot run in this venv, or None."""
    if importlib.util.find_spec("tensorflow") is None:
        return "TensorFlow is not installed in this venv (pip install 'inferwatch[detect-tf]')"
    return None


def fit_detector_dir(case: Case, workdir: Path, seed: int) -> Path:
    """Fit the case's detector on its seeded reference and save it; returns the directory every variant loads."""
    ref = reference(case.reference_rows, seed=seed)
    out = workdir / f"detector-{case.name}"
    if case.name == "ks":
        from inferwatch.detectors.fit import fit_detector

        ref_file = workdir / "reference-ks.npy"
        np.save(ref_file, ref)
        fit_detector("ks", ref_file, out, options={"p_val": P_VAL}, progress=False)
    elif case.name == "mmd":
        from alibi_detect.cd import MMDDrift
        from alibi_detect.saving import save_detector

        save_detector(MMDDrift(ref, backend="tensorflow", p_val=P_VAL), str(out))
    else:
        raise ValueError(f"unknown case {case.name!r}")
    return out


class Direct:
    """The saved detector loaded in this process with alibi-detect's ``load_detector``."""

    def __init__(self, detector_dir: Path) -> None:
        from alibi_detect.saving import load_detector

        self.detector = load_detector(str(detector_dir))

    def detect(self, x: Array) -> Result:
        """Seconds and CPU seconds (this process, every thread) of ``predict(x)``, and its ``is_drift``."""
        pid = os.getpid()
        cpu, started = cpu_seconds(pid), time.perf_counter()
        raw = self.detector.predict(x)
        seconds = time.perf_counter() - started
        return seconds, cpu_seconds(pid) - cpu, int(raw["data"]["is_drift"])


def v2_verdict(doc: Any) -> int | None:
    """``is_drift`` of a V2 response (inferwatch or MLServer: one output tensor per result key)."""
    outputs = {o["name"]: o["data"] for o in doc.get("outputs", [])}
    if outputs.get("pending") == [True]:
        raise BenchError("the detector answered 'pending': the request did not close a drift window")
    value = outputs.get("is_drift")
    return int(value[0]) if value else None


def seldon_verdict(doc: Any) -> int | None:
    """``is_drift`` of inferwatch's Seldon answer ``{"jsonData": {"data": ..., "meta": ...}}``."""
    data = doc["jsonData"]["data"]
    if data.get("pending"):
        raise BenchError("the detector answered 'pending': the request did not close a drift window")
    value = data.get("is_drift")
    return None if value is None else int(value)


@dataclass
class HttpVariant:
    """POSTs one body per batch to ``url`` on one keep-alive connection; reads the CPU time of the server's
    process ``pid`` (all its threads) around each request."""

    name: str
    url: str
    pid: int
    encode: Callable[[Array], bytes | tuple[bytes, dict[str, str]]]
    """The request body, or the body and extra headers."""
    verdict: Verdict
    client: httpx.Client = field(
        default_factory=lambda: httpx.Client(timeout=REQUEST_TIMEOUT, headers={"content-type": "application/json"})
    )

    def detect(self, x: Array) -> Result:
        """Seconds from sending the (already encoded) body to the parsed answer, the server's CPU seconds in
        between, and the answer's ``is_drift``."""
        encoded = self.encode(x)
        body, headers = encoded if isinstance(encoded, tuple) else (encoded, None)
        cpu, started = cpu_seconds(self.pid), time.perf_counter()
        resp = self.client.post(self.url, content=body, headers=headers)
        doc = orjson.loads(resp.content)
        seconds, cpu = time.perf_counter() - started, cpu_seconds(self.pid) - cpu
        if resp.status_code != 200:
            raise BenchError(f"{self.name} answered {resp.status_code}: {resp.content[:300]!r}")
        return seconds, cpu, self.verdict(doc)

    def close(self) -> None:
        self.client.close()


def start_inferwatch(procs: Processes, case: Case, detector_dir: Path, model_name: str) -> Proc:
    """``inferwatch detector serve`` on the case's detector, one drift window per request; ready on return."""
    port = free_port()
    cmd = [sys.executable, "-m", "inferwatch.cli", "--log-level", "WARNING", "detector", "serve"]
    cmd += ["--detector", str(detector_dir), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--metrics-port", str(free_port()), "--model-name", model_name, "--batch-size", str(case.batch_rows)]
    cmd += ["--state-dir", str(procs.workdir / f"state-{case.name}")]
    env = {"INFERWATCH_HOME": str(procs.workdir / "home"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = procs.start(f"inferwatch-{case.name}", cmd, port, env=env, timeout=READY_TIMEOUT)
    wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", proc)
    return proc


def wait_ready(url: str, proc: Proc) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not http_ok(url):
        if time.monotonic() > deadline or proc.popen.poll() is not None:
            raise BenchError(f"{proc.name} not ready; see {proc.log_file}")
        time.sleep(0.2)


def inferwatch_variants(proc: Proc, model_name: str) -> list[HttpVariant]:
    """The inferwatch server through V2 and through the Seldon graph-component route."""
    from bench.detectors.data import seldon_body, v2_binary_body, v2_body

    url, names = f"http://127.0.0.1:{proc.port}", feature_names()
    infer = f"{url}/v2/models/{model_name}/infer"
    return [
        HttpVariant("inferwatch-v2", infer, proc.pid, v2_body, v2_verdict),
        HttpVariant("inferwatch-v2-binary", infer, proc.pid, v2_binary_body, v2_verdict),
        HttpVariant(
            "inferwatch-seldon",
            f"{url}/api/v1.0/predictions",
            proc.pid,
            lambda x: seldon_body(x, names),
            seldon_verdict,
        ),
    ]


def mlserver_unavailable(build: bool) -> str | None:
    """Why the MLServer variant cannot run, or None. Builds its cached venv (~5 min, once) when ``build``."""
    path = venv_path(MLSERVER_ALIBI_DETECT)
    if (path / STAMP).exists():
        return None
    if not build:
        return (
            f"its venv is not built yet ({path}); a run without --quick builds it once (~5 min, "
            "mlserver 1.7.1 + mlserver-alibi-detect 1.6.1 + TensorFlow 2.18)"
        )
    try:
        ensure_venv(MLSERVER_ALIBI_DETECT)
    except PeerError as e:
        return f"its venv could not be built: {e.message}"
    return None


@contextlib.contextmanager
def mlserver(workdir: Path, detectors: dict[str, Path]) -> Iterator[MLServerServer]:
    """One MLServer (alibi-detect runtime, ``parallel_workers`` 0) serving every detector dir by model name."""
    venv = ensure_venv(MLSERVER_ALIBI_DETECT)
    root = workdir / "mlserver"
    names = [prepare_detector(root, name, path) for name, path in detectors.items()]
    server = MLServerServer(venv, root, names)
    server.ready_timeout = READY_TIMEOUT
    with server:
        yield server

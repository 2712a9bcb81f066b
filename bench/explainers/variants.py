"""The ways an explanation is computed: in-process alibi, the ``inferwatch explainer`` process, MLServer.

- ``InProcess``: the alibi explainer built by the same builder the explainer server uses
  (``inferwatch.explainers.kinds``), with ``predict_fn`` = the local model's ``predict_proba``.
- ``InferwatchExplainer``: ``inferwatch explainer --kind K --model-url …`` started as its own process in
  front of the benchmark's model server; explanations through ``POST /api/v1.0/explain`` on one keep-alive
  connection; model calls read from its ``/metrics``.
- ``mlserver_unavailable``: why MLServer's alibi-explain runtime cannot be the third variant here.
"""

from __future__ import annotations

import contextlib
import http.client
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from prometheus_client.parser import text_string_to_metric_families

from bench.logger.procs import BenchError, Proc, Processes, free_port
from inferwatch.explainers import kinds
from inferwatch.explainers.reference import Reference

EXPLAIN_PATH = "/api/v1.0/explain"
READY_TIMEOUT = 300.0
"""Seconds the explainer may take to import alibi and fit (AnchorTabular fits in seconds on iris)."""

MLSERVER_PIN = "mlserver==1.7.1 mlserver-alibi-explain==1.6.1"
MLSERVER_NOT_INSTALLABLE = (
    f"'pip install {MLSERVER_PIN}' does not finish on Python 3.11 here: mlserver-alibi-explain wants "
    "alibi[shap,tensorflow] (TensorFlow < 2.15) and pydantic 2.7; tried in a fresh venv with a 5-minute cap, "
    "pip fetched alibi 0.9.6, shap 0.43 and TensorFlow 2.12-2.14 wheels, then backtracked through 30+ spaCy "
    "releases building sdists and was stopped unresolved (DEPS-NOTES also saw alibi 0.5.5 fail to import and "
    "ResolutionImpossible with alibi 0.9.6 + TF 2.14). Pass --mlserver-python to check another install"
)


def explain_params(kind: str) -> dict[str, Any]:
    """The explain parameters both sides use: the explainer server's defaults for ``kind``."""
    return kinds.check_params(kind, {})


class InProcess:
    """In-process alibi: the explainer calls the model object directly (counting the calls)."""

    def __init__(self, kind: str, predict_proba: Callable[[Any], NDArray[Any]], reference: Reference, seed: int):
        self.kind = kind
        self.calls = 0

        def predict_fn(x: Any) -> NDArray[Any]:
            self.calls += 1
            return predict_proba(x)

        self.explainer = kinds.get_kind(kind).build(predict_fn, reference, {"seed": seed})
        self.params = explain_params(kind)

    def explain(self, x: NDArray[Any]) -> tuple[float, float, int, dict[str, Any]]:
        """Seconds, CPU seconds, model calls and the ``Explanation.to_json()`` document of one instance (serialising
        it is not timed: an in-process caller would not need to)."""
        before = self.calls
        row = x.reshape(1, -1) if self.kind in ("kernel_shap", "tree_shap") else x
        started, cpu = time.perf_counter(), time.process_time()
        explanation = self.explainer.explain(row, **self.params)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        return seconds, cpu, self.calls - before, orjson.loads(explanation.to_json())


class InferwatchExplainer:
    """An ``inferwatch explainer`` process and a keep-alive HTTP connection to it."""

    def __init__(self, proc: Proc, metrics_port: int, kind: str, timeout: float, model: Proc) -> None:
        self.proc, self.metrics_port, self.kind, self.model = proc, metrics_port, kind, model
        self.conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=timeout)

    @classmethod
    def start(
        cls,
        procs: Processes,
        kind: str,
        model: Proc,
        reference: Path,
        seed: int,
        timeout: float,
        extra_args: list[str] | None = None,
    ) -> InferwatchExplainer:
        """Start the explainer (it fits on ``reference`` at start-up) and wait until it is ready."""
        port, metrics_port = free_port(), free_port()
        cmd = [sys.executable, "-m", "inferwatch.cli", "--log-level", "WARNING", "explainer", "--kind", kind]
        cmd += ["--model-url", f"http://127.0.0.1:{model.port}", "--protocol", "seldon", "--reference", str(reference)]
        cmd += ["--option", f"seed={seed}", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--metrics-port", str(metrics_port), "--timeout", str(timeout), *(extra_args or [])]
        home = procs.workdir / f"home-{kind}"
        proc = procs.start(f"explainer-{kind}", cmd, port, env={"INFERWATCH_HOME": str(home)}, timeout=READY_TIMEOUT)
        explainer = cls(proc, metrics_port, kind, timeout, model)
        explainer.wait_ready()
        return explainer

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            with contextlib.suppress(BenchError):
                if self._request("GET", "/health/status", None)[0] == 200:
                    return
            if time.monotonic() > deadline or self.proc.popen.poll() is not None:
                raise BenchError(f"explainer {self.kind} not ready; see {self.proc.log_file}")
            time.sleep(0.2)

    def _request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except (http.client.HTTPException, OSError) as e:
            self.conn.close()  # reconnects on the next request
            raise BenchError(f"{method} {path} on the {self.kind} explainer failed: {e!r}") from e

    def explain(self, X: NDArray[Any]) -> tuple[float, float, list[dict[str, Any]]]:
        """Seconds, CPU seconds (explainer + model server, in clock ticks of 10 ms) and explanations of one
        request holding the instances ``X`` (one or many rows)."""
        body = orjson.dumps({"data": {"ndarray": X.tolist()}})
        self.conn.close()  # a fresh connection, opened before the clock starts: the server's keep-alive
        self.conn.connect()  # timeout may have closed the old one while the in-process variant ran
        cpu = self.proc.cpu() + self.model.cpu()
        started = time.perf_counter()
        status, raw = self._request("POST", EXPLAIN_PATH, body)
        seconds = time.perf_counter() - started
        cpu = self.proc.cpu() + self.model.cpu() - cpu
        if status != 200:
            raise BenchError(f"explainer {self.kind} answered {status}: {raw[:500]!r}")
        answer = orjson.loads(raw)
        return seconds, cpu, answer["explanations"] if len(X) > 1 else [answer]

    def model_calls(self) -> float:
        """Model calls the explainer made for explain requests so far (its ``/metrics``)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        return model_calls_from_metrics(text, self.kind)

    def close(self) -> None:
        self.conn.close()


def model_calls_from_metrics(text: str, kind: str) -> float:
    """``inferwatch_explainer_model_calls_sum{kind=…}`` from a ``/metrics`` page (0 before any request)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "inferwatch_explainer_model_calls_sum" and s.labels.get("kind") == kind:
                return float(s.value)
    return 0.0


def mlserver_unavailable(python: Path | None) -> str:
    """Why the MLServer alibi-explain variant cannot run here.

    With ``python`` (a Python that has MLServer), it is checked again; even when it imports the runtime the
    variant is not run: the runtime never installed here, so there is no runner built and tried against it.
    """
    if python is None:
        return MLSERVER_NOT_INSTALLABLE
    try:
        out = subprocess.run(
            [str(python), "-c", "import mlserver, mlserver_alibi_explain; print(mlserver.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{python} cannot run: {e}"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return f"{python} cannot import mlserver_alibi_explain: {last}"
    return (
        f"{python} imports mlserver {out.stdout.strip()} with mlserver-alibi-explain, but this benchmark has no "
        "MLServer runner yet (the runtime never installed here to build one against)"
    )


def instances(X: NDArray[Any], n: int, seed: int) -> NDArray[Any]:
    """``n`` distinct rows of ``X`` (at most all of them), chosen with ``seed``."""
    rng = np.random.default_rng(seed)
    chosen: NDArray[Any] = X[rng.choice(len(X), size=min(n, len(X)), replace=False)]
    return chosen

"""Capture real request/response pairs from the peer servers into ``tests/testdata/peers/``.

Run by hand: ``.venv/bin/python tests/devstack/peers/capture_golden.py``. It starts both peers, sends
every exchange below, and writes ``<name>_request.json``, ``<name>_response.json`` and ``index.json``
(server, method, path, status per exchange). ``test_peers.py`` replays them against the live servers.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from devstack.peers import mlserver, seldon  # noqa: E402
from devstack.peers.pytest_fixtures import SELDON_CLASS_FILE  # noqa: E402
from devstack.peers.venvs import MLSERVER, SELDON, ensure_venv  # noqa: E402

OUT = ROOT / "tests" / "testdata" / "peers"
SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _npy_b64(rows: list[list[float]]) -> str:
    buf = io.BytesIO()
    np.save(buf, np.array(rows, dtype=np.float64), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode()


SELDON_PATH = "/api/v1.0/predictions"
SELDON_EXCHANGES: dict[str, dict[str, Any]] = {
    "seldon_ndarray": {"data": {"names": FEATURES, "ndarray": [SETOSA, VIRGINICA]}},
    "seldon_tensor": {"data": {"names": FEATURES, "tensor": {"shape": [2, 4], "values": SETOSA + VIRGINICA}}},
    "seldon_tftensor": {
        "data": {
            "tftensor": {
                "dtype": "DT_DOUBLE",
                "tensorShape": {"dim": [{"size": "1"}, {"size": "4"}]},
                "doubleVal": SETOSA,
            }
        }
    },
    "seldon_strdata": {"strData": "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3"},
    "seldon_jsondata": {"jsonData": {"instances": [SETOSA, VIRGINICA]}},
    "seldon_bindata": {"binData": _npy_b64([SETOSA, VIRGINICA])},
    "seldon_meta_puid": {
        "meta": {"puid": "golden-0001", "tags": {"caller": "capture"}},
        "data": {"ndarray": [SETOSA]},
    },
    "seldon_wrong_shape": {"data": {"ndarray": [[5.1, 3.5, 1.4]]}},
    "seldon_bad_data": {"unknownKind": [1, 2, 3]},
}


def _v2_multi_input() -> dict[str, Any]:
    columns = list(zip(SETOSA, VIRGINICA, strict=True))
    return {
        "id": "golden-v2-multi",
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": name, "datatype": "FP32", "shape": [2, 1], "data": list(col)}
            for name, col in zip(FEATURES, columns, strict=True)
        ],
    }


MLSERVER_EXCHANGES: dict[str, tuple[str, dict[str, Any]]] = {
    "mlserver_iris_single": (
        "iris",
        {
            "id": "golden-v2-single",
            "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 4], "data": SETOSA}],
        },
    ),
    "mlserver_iris_proba": (
        "iris",
        {
            "id": "golden-v2-proba",
            "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [2, 4], "data": SETOSA + VIRGINICA}],
            "outputs": [{"name": "predict_proba"}],
        },
    ),
    "mlserver_multi_input": ("iris-features", _v2_multi_input()),
    "mlserver_bad_output": (
        "iris",
        {
            "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 4], "data": SETOSA}],
            "outputs": [{"name": "bogus"}],
        },
    ),
    "mlserver_unknown_model": (
        "no-such-model",
        {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 4], "data": SETOSA}]},
    ),
}


def _exchange(name: str, url: str, request: dict[str, Any] | None) -> int:
    """Send ``request`` (the exact bytes stored as ``NAME_request.json``); store the raw response body."""
    if request is None:
        r = httpx.get(url, timeout=30)
    else:
        body = json.dumps(request, indent=2) + "\n"
        (OUT / f"{name}_request.json").write_text(body)
        r = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    (OUT / f"{name}_response.json").write_bytes(r.content)
    return r.status_code


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    OUT.mkdir(parents=True, exist_ok=True)
    index: list[dict[str, Any]] = []

    def record(server: str, name: str, base: str, path: str, request: dict[str, Any] | None) -> None:
        status = _exchange(name, base + path, request)
        method = "GET" if request is None else "POST"
        index.append({"name": name, "server": server, "method": method, "path": path, "status": status})

    with tempfile.TemporaryDirectory(prefix="peers-golden-") as tmp:
        venv = ensure_venv(SELDON)
        workdir = Path(tmp) / "seldon"
        model_class = seldon.prepare_iris(venv, SELDON_CLASS_FILE, workdir)
        with seldon.SeldonServer(venv, workdir, model_class) as server:
            for name, request in SELDON_EXCHANGES.items():
                record("seldon", name, server.url, SELDON_PATH, request)
            record("seldon", "seldon_metadata", server.url, "/metadata", None)

        venv = ensure_venv(MLSERVER)
        workdir = Path(tmp) / "mlserver"
        models = mlserver.prepare_iris(venv, workdir)
        with mlserver.MLServerServer(venv, workdir, models) as server:
            for name, (model, request) in MLSERVER_EXCHANGES.items():
                record("mlserver", name, server.url, f"/v2/models/{model}/infer", request)
            for model in models:
                name = f"mlserver_{model.replace('-', '_')}_metadata"
                record("mlserver", name, server.url, f"/v2/models/{model}", None)
    (OUT / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    print(f"wrote {len(index)} exchanges to {OUT}")


if __name__ == "__main__":
    main()

"""Wire compatibility with a real peer: MLServer (its own venv) serializes V2 requests and responses to Open
Inference Protocol protobuf with its gRPC converters, typed and raw; our decode of those bytes equals what
MLServer itself reads back from them, once both go through the V2 codec."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from devstack.peers.process import clean_env
from devstack.peers.venvs import MLSERVER, ensure_venv
from inferwatch.protocols import get_codec
from inferwatch.protocols.payload import Payload
from inferwatch.protocols.v2_proto import CONTENTS_FIELD, request_to_json, response_to_json
from tests.inferwatch.protocols.test_v2_proto import VALUES

pytestmark = pytest.mark.peers
SCRIPT = Path(__file__).resolve().parents[2] / "fixtures" / "peers" / "mlserver" / "oip_wire.py"
V2 = get_codec("v2")


def cases() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for raw in (False, True):
        for datatype, values in VALUES.items():
            if not raw and datatype not in CONTENTS_FIELD:
                continue  # FP16 has no typed contents field
            tensor = {"name": f"t_{datatype.lower()}", "datatype": datatype, "shape": [2, 2], "data": values}
            out.append({"kind": "request", "raw": raw, "doc": {"id": f"{datatype}-{raw}", "inputs": [tensor]}})
            out.append({"kind": "response", "raw": raw, "doc": {"model_name": "m", "outputs": [tensor]}})
        several = [
            {
                "name": "a",
                "datatype": "FP32",
                "shape": [1, 2],
                "data": [0.1, 0.2],
                "parameters": {"content_type": "np"},
            },
            {"name": "b", "datatype": "BYTES", "shape": [1], "data": ["héllo"]},
            {"name": "c", "datatype": "INT64", "shape": [3], "data": [1, -2, 3]},
        ]
        params = {"content_type": "pd", "count": 3, "flag": True}
        out.append({"kind": "request", "raw": raw, "doc": {"id": "many", "parameters": params, "inputs": several}})
        doc = {"model_name": "m", "model_version": "7", "id": "many", "parameters": params, "outputs": several}
        out.append({"kind": "response", "raw": raw, "doc": doc})
    return out


@pytest.fixture(scope="module")
def mlserver_wire() -> list[tuple[dict[str, Any], bytes, dict[str, Any]]]:
    venv = ensure_venv(MLSERVER)
    sent = cases()
    done = subprocess.run(
        [str(venv.python), str(SCRIPT)],
        input=json.dumps(sent),
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    return [(case, base64.b64decode(r["bytes"]), r["mlserver"]) for case, r in zip(sent, results, strict=True)]


def assert_same(ours: Payload, theirs: Payload) -> None:
    assert ours.parameters == theirs.parameters
    assert len(ours.tensors) == len(theirs.tensors)
    for a, b in zip(ours.tensors, theirs.tensors, strict=True):
        assert (a.name, a.datatype, a.shape, a.parameters) == (b.name, b.datatype, b.shape, b.parameters)
        if a.datatype == "BYTES":
            assert a.data == b.data
        else:
            assert a.data.dtype == b.data.dtype
            np.testing.assert_array_equal(a.data, b.data)


def test_our_decode_equals_mlservers_own(mlserver_wire: list[tuple[dict[str, Any], bytes, dict[str, Any]]]) -> None:
    assert len(mlserver_wire) == len(cases())
    for case, data, theirs in mlserver_wire:
        if case["kind"] == "request":
            ours, back = V2.decode_request(request_to_json(data)), V2.decode_request(theirs)
        else:
            ours, back = V2.decode_response(response_to_json(data)), V2.decode_response(theirs)
            assert (ours.model_name, ours.model_version) == (back.model_name, back.model_version)
        assert ours.id == (back.id or None)  # proto3 cannot carry an absent id; MLServer reads it as ""
        assert_same(ours, back)
        assert [t.name for t in ours.tensors] == [
            t["name"] for t in case["doc"].get("inputs", case["doc"].get("outputs"))
        ]


def test_fp16_raw_values_match_what_was_sent(mlserver_wire: list[tuple[dict[str, Any], bytes, dict[str, Any]]]) -> None:
    (data,) = [d for c, d, _ in mlserver_wire if c["doc"].get("id") == "FP16-True"]
    (tensor,) = V2.decode_request(request_to_json(data)).tensors
    np.testing.assert_array_equal(tensor.data.ravel(), np.asarray(VALUES["FP16"], dtype=np.float16))

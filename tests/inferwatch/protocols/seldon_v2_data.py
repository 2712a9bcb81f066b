"""The Seldon Core v2 topic values saved under ``tests/testdata/protocols/seldon_v2/``, built with the official
Open Inference Protocol classes (``inferwatch.protocols.oip``).

Run ``.venv/bin/python -m tests.inferwatch.protocols.seldon_v2_data`` to write them again; ``test_v2_proto.py``
checks the saved files still parse to exactly these messages.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from inferwatch.protocols.oip import open_inference_grpc_pb2 as pb

DIR = Path(__file__).resolve().parents[2] / "testdata" / "protocols" / "seldon_v2"
REQUEST_ID = "5c9a2d6e-seldon-v2-0001"
MODEL = "iris"
SCHEMA_ID = 7
FEATURES = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
PREDICT = np.array([0, 2], dtype=np.int64)
PROBA = np.array([[0.97, 0.03, 0.0], [0.0, 0.1, 0.9]], dtype=np.float64)
WORDS = ["setosa?", "virginica?"]


def bytes_raw(elements: list[str]) -> bytes:
    """BYTES raw contents: each element after its 4-byte little-endian length."""
    return b"".join(struct.pack("<I", len(e.encode())) + e.encode() for e in elements)


def request() -> Any:
    """An iris request as a Seldon Core v2 ``.inputs`` topic holds it: raw contents, a tag parameter."""
    msg = pb.ModelInferRequest(model_name=MODEL, model_version="1", id=REQUEST_ID)
    msg.parameters["content_type"].string_param = "np"
    msg.inputs.add(name="predict", datatype="FP32", shape=[2, 4])
    msg.inputs.add(name="note", datatype="BYTES", shape=[2])
    msg.raw_input_contents.extend([FEATURES.astype("<f4").tobytes(), bytes_raw(WORDS)])
    return msg


def response() -> Any:
    """The matching ``.outputs`` value: the same id, two outputs in raw contents."""
    msg = pb.ModelInferResponse(model_name=MODEL, model_version="1", id=REQUEST_ID)
    msg.outputs.add(name="predict", datatype="INT64", shape=[2])
    proba = msg.outputs.add(name="predict_proba", datatype="FP64", shape=[2, 3])
    proba.parameters["content_type"].string_param = "np"
    msg.raw_output_contents.extend([PREDICT.astype("<i8").tobytes(), PROBA.astype("<f8").tobytes()])
    return msg


def response_json() -> dict[str, Any]:
    """The JSON variant (header ``seldon-infer-type: json/inferModelResponse``): a V2 REST body, with the
    ``"parameters": null`` Seldon's Go gateway writes for unset parameters."""
    return {
        "model_name": MODEL,
        "model_version": "1",
        "id": REQUEST_ID,
        "parameters": None,
        "outputs": [
            {"name": "predict", "shape": [2], "datatype": "INT64", "parameters": None, "data": PREDICT.tolist()},
            {
                "name": "predict_proba",
                "shape": [2, 3],
                "datatype": "FP64",
                "parameters": {"content_type": "np"},
                "data": PROBA.ravel().tolist(),
            },
        ],
    }


def framed(value: bytes, indexes: tuple[int, ...] = (0,)) -> bytes:
    """``value`` behind Confluent's framing: magic 0, schema id, message indexes (``[0]`` as one 0 byte)."""
    head = b"\0" + struct.pack(">I", SCHEMA_ID)
    if indexes == (0,):
        return head + b"\0" + value
    return head + b"".join(_zigzag(n) for n in (len(indexes), *indexes)) + value


def _zigzag(n: int) -> bytes:
    raw = (n << 1) ^ (n >> 63)
    out = bytearray()
    while raw > 0x7F:
        out.append(raw & 0x7F | 0x80)
        raw >>= 7
    out.append(raw)
    return bytes(out)


FILES = {
    "request_raw.bin": lambda: request().SerializeToString(deterministic=True),
    "response_raw.bin": lambda: response().SerializeToString(deterministic=True),
    "request_framed.bin": lambda: framed(request().SerializeToString(deterministic=True)),
    "response.json": lambda: (json.dumps(response_json(), indent=2) + "\n").encode(),
}


if __name__ == "__main__":
    for name, make in FILES.items():
        (DIR / name).write_bytes(make())

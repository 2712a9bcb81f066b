"""The benchmark's data: seeded synthetic features, the reference set and the batches, and their wire bodies.

Every feature is standard normal (float32). A *drifted* batch shifts the mean of its first ``DRIFTED_FEATURES``
features by ``SHIFT`` standard deviations; every other batch comes from the reference distribution. Odd
batches are drifted, even ones are not, so each variant sees both kinds in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

Array = np.ndarray[Any, Any]
FEATURES = 10
SHIFT = 0.5
DRIFTED_FEATURES = 3
V2_INPUT = "input-0"


@dataclass(frozen=True)
class Case:
    """One detector set-up: its kind, the reference size and the rows per batch (= one drift window)."""

    name: str
    reference_rows: int
    batch_rows: int
    needs_tf: bool = False


CASES: dict[str, Case] = {
    "ks": Case("ks", reference_rows=10_000, batch_rows=1_000),
    "mmd": Case("mmd", reference_rows=500, batch_rows=500, needs_tf=True),
}


@dataclass(frozen=True)
class Batch:
    """One request's worth of rows and whether it was drawn drifted."""

    index: int
    x: Array
    drifted: bool


def feature_names(features: int = FEATURES) -> list[str]:
    return [f"f{j}" for j in range(features)]


def reference(rows: int, features: int = FEATURES, seed: int = 0) -> Array:
    """``rows`` x ``features`` float32 standard-normal reference data (the same for the same seed)."""
    return np.random.default_rng([seed, 0]).standard_normal((rows, features), dtype=np.float32)


def batches(count: int, rows: int, features: int = FEATURES, seed: int = 0) -> list[Batch]:
    """``count`` batches of ``rows`` x ``features``; odd ones drifted. Independent of ``reference``'s draws."""
    rng = np.random.default_rng([seed, 1])
    out = []
    for i in range(count):
        x = rng.standard_normal((rows, features), dtype=np.float32)
        drifted = i % 2 == 1
        if drifted:
            x[:, :DRIFTED_FEATURES] += np.float32(SHIFT)
        out.append(Batch(i, x, drifted))
    return out


def v2_body(x: Array, request_id: str | None = None) -> bytes:
    """A V2 inference request holding ``x`` as one FP32 tensor, flat row-major data (what MLServer's NumpyCodec
    decodes)."""
    body: dict[str, Any] = {
        "inputs": [{"name": V2_INPUT, "datatype": "FP32", "shape": list(x.shape), "data": x.reshape(-1)}]
    }
    if request_id is not None:
        body["id"] = request_id
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def v2_binary_body(x: Array) -> tuple[bytes, dict[str, str]]:
    """The same V2 request in the binary tensor extension (raw little-endian FP32 after a JSON header), and the
    ``Inference-Header-Content-Length`` header it needs: what Triton's and KServe's clients send."""
    from inferwatch.protocols.v2_binary import HEADER_LENGTH, encode_binary

    doc: dict[str, Any] = {"inputs": [{"name": V2_INPUT, "datatype": "FP32", "shape": list(x.shape)}]}
    body, n = encode_binary(doc, {V2_INPUT: x})
    return body, {HEADER_LENGTH: str(n), "content-type": "application/octet-stream"}


def seldon_body(x: Array, names: list[str] | None = None) -> bytes:
    """A Seldon v1 ``ndarray`` request holding ``x`` (with the feature ``names`` when given)."""
    data: dict[str, Any] = {"ndarray": x}
    if names is not None:
        data = {"names": names, **data}
    return orjson.dumps({"data": data}, option=orjson.OPT_SERIALIZE_NUMPY)

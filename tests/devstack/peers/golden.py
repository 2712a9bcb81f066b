"""Comparing a live peer answer with its captured golden: exact where the answer is deterministic, within what
training allows where it is a model output.

Why not exact: the peers train their iris ``LogisticRegression`` in place, and lbfgs stops as soon as its
projected gradient is under ``tol`` (1e-4). The path to that point runs through BLAS kernels that OpenBLAS picks
by CPU (AVX-512 on one machine, AVX2 on another), whose different summation order changes the rounding, the
iterate at which lbfgs stops and so the coefficients. On one Xeon, ``OPENBLAS_CORETYPE=SkylakeX`` gives
P(setosa) = 0.9816568 after 103 iterations and ``Haswell`` (the kernels of an AVX2-only AMD EPYC) 0.9815572
after 111: the same model to about 1e-4, different in the 4th-6th digit.

So: keys, strings, integers, list lengths, shapes, dtypes and every row's argmax (the predicted class) are
compared exactly; floats within ``ABS_TOL``/``REL_TOL``. Numbers hidden in base64 (Seldon ``binData`` .npy
files, ``tftensor.tensorContent``) are decoded and compared the same way, their dtype and shape exactly.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np

#: Model outputs may differ by this much between CPUs (observed spread about 1.5e-4 on probabilities).
ABS_TOL = 1e-3
REL_TOL = 1e-3
_TF_DTYPES = {"DT_DOUBLE": "<f8", "DT_FLOAT": "<f4", "DT_INT64": "<i8", "DT_INT32": "<i4"}


def _is_numeric_list(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        return False
    return all(_is_numeric_list(v) if isinstance(v, list) else _is_number(v) for v in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def assert_same_array(live: np.ndarray, golden: np.ndarray, path: str) -> None:
    """Same shape and dtype kind; values within tolerance; the same argmax in every row (last axis)."""
    assert live.shape == golden.shape, f"{path}: shape {live.shape} != {golden.shape}"
    assert live.dtype.kind == golden.dtype.kind, f"{path}: dtype {live.dtype} != {golden.dtype}"
    if golden.dtype.kind in "iub":
        assert np.array_equal(live, golden), path
        return
    assert np.allclose(live, golden, rtol=REL_TOL, atol=ABS_TOL), f"{path}: {live} vs {golden}"
    if golden.ndim >= 1 and golden.shape[-1] > 1:
        assert np.array_equal(live.argmax(axis=-1), golden.argmax(axis=-1)), f"{path}: predicted class changed"


def _decode_npy(text: str) -> np.ndarray:
    return np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)


def _tensor_content(tftensor: dict[str, Any]) -> np.ndarray:
    shape = [int(d["size"]) for d in tftensor["tensorShape"]["dim"]]
    raw = base64.b64decode(tftensor["tensorContent"])
    return np.frombuffer(raw, dtype=_TF_DTYPES[tftensor["dtype"]]).reshape(shape)


def _flat_with_shape(doc: dict[str, Any]) -> str | None:
    """The key of a flat numeric list that ``doc["shape"]`` shapes (V2 ``data``, Seldon tensor ``values``)."""
    shape = doc.get("shape")
    if not (isinstance(shape, list) and all(isinstance(n, int) for n in shape)):
        return None
    return next((k for k in ("data", "values") if _is_numeric_list(doc.get(k))), None)


def assert_same_json(live: Any, golden: Any, path: str = "$") -> None:
    """``live`` answers the same as ``golden`` (see the module docstring for what "the same" means)."""
    if isinstance(golden, dict):
        assert isinstance(live, dict) and live.keys() == golden.keys(), f"{path}: keys differ"
        flat = _flat_with_shape(golden)
        if flat is not None and not (
            live.get("shape") == golden["shape"]
            and _is_numeric_list(live.get(flat))
            and len(live[flat]) == len(golden[flat])
        ):
            flat = None  # compared key by key below, which names what differs
        if flat is not None:
            shape = golden["shape"]
            live_arr, golden_arr = np.reshape(live[flat], shape), np.reshape(golden[flat], shape)
            assert_same_array(live_arr, golden_arr, f"{path}.{flat}")
        if "tensorContent" in golden:
            assert_same_array(_tensor_content(live), _tensor_content(golden), f"{path}.tensorContent")
        for key in golden:
            if key in ("tensorContent", flat):
                continue
            if key == "binData" and isinstance(golden[key], str):
                assert_same_array(_decode_npy(live[key]), _decode_npy(golden[key]), f"{path}.binData")
                continue
            assert_same_json(live[key], golden[key], f"{path}.{key}")
    elif _is_numeric_list(golden) and any(isinstance(v, float | list) for v in golden):
        assert _is_numeric_list(live), f"{path}: not a list of numbers"
        assert_same_array(np.asarray(live), np.asarray(golden), path)
    elif isinstance(golden, list):
        assert isinstance(live, list) and len(live) == len(golden), f"{path}: length differs"
        for i, (a, b) in enumerate(zip(live, golden, strict=True)):
            assert_same_json(a, b, f"{path}[{i}]")
    elif isinstance(golden, float):
        assert _is_number(live), f"{path}: {live!r} is not a number"
        assert math.isclose(live, golden, rel_tol=REL_TOL, abs_tol=ABS_TOL), f"{path}: {live} vs {golden}"
    else:
        assert type(live) is type(golden) and live == golden, f"{path}: {live!r} != {golden!r}"

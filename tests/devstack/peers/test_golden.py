"""The golden comparison itself, on the captured answers: tolerant of another CPU's rounding, strict about
everything that is deterministic (no peer server needed)."""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.devstack.peers.golden import assert_same_json

GOLDEN = Path(__file__).resolve().parents[2] / "testdata" / "peers"
INDEX = json.loads((GOLDEN / "index.json").read_text())


def golden(name: str) -> Any:
    return json.loads((GOLDEN / f"{name}_response.json").read_text())


def nudge(value: float) -> float:
    """What another CPU's BLAS did to the iris model: about 1e-4 on a probability."""
    return value * (1 - 1e-4) if value > 0.5 else value + 1e-5


@pytest.mark.parametrize("exchange", INDEX, ids=[e["name"] for e in INDEX])
def test_every_golden_matches_itself(exchange: dict[str, Any]) -> None:
    assert_same_json(golden(exchange["name"]), golden(exchange["name"]))


def test_another_cpus_rounding_passes_everywhere_it_can_hide() -> None:
    nd = golden("seldon_ndarray")
    live = copy.deepcopy(nd)
    live["data"]["ndarray"] = [[nudge(v) for v in row] for row in nd["data"]["ndarray"]]
    assert_same_json(live, nd)

    v2 = golden("mlserver_iris_proba")
    live = copy.deepcopy(v2)
    live["outputs"][0]["data"] = [nudge(v) for v in v2["outputs"][0]["data"]]
    assert_same_json(live, v2)

    bindata = golden("seldon_bindata")
    array = np.load(io.BytesIO(base64.b64decode(bindata["binData"])))
    buf = io.BytesIO()
    np.save(buf, np.vectorize(nudge)(array))
    assert_same_json({**bindata, "binData": base64.b64encode(buf.getvalue()).decode()}, bindata)

    tf = golden("seldon_tftensor")
    content = np.frombuffer(base64.b64decode(tf["data"]["tftensor"]["tensorContent"]), "<f8")
    live = copy.deepcopy(tf)
    live["data"]["tftensor"]["tensorContent"] = base64.b64encode(np.vectorize(nudge)(content).tobytes()).decode()
    assert_same_json(live, tf)


def test_a_changed_prediction_fails() -> None:
    nd = golden("seldon_ndarray")
    live = copy.deepcopy(nd)
    live["data"]["ndarray"][0] = list(reversed(live["data"]["ndarray"][0]))
    with pytest.raises(AssertionError):
        assert_same_json(live, nd)


def test_a_probability_off_by_more_than_training_allows_fails() -> None:
    v2 = golden("mlserver_iris_proba")
    live = copy.deepcopy(v2)
    live["outputs"][0]["data"][0] -= 0.01
    live["outputs"][0]["data"][1] += 0.01
    with pytest.raises(AssertionError, match="outputs"):
        assert_same_json(live, v2)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["data"].__setitem__("names", ["a", "b", "c"]),  # a string
        lambda d: d["meta"]["tags"].__setitem__("extra", 1),  # a key
        lambda d: d["data"]["tensor"].__setitem__("shape", [3, 2]),  # a shape
        lambda d: d["data"]["tensor"]["values"].pop(),  # a length
    ],
    ids=["string", "key", "shape", "length"],
)
def test_deterministic_parts_compare_exactly(mutate: Any) -> None:
    tensor = golden("seldon_tensor")
    live = copy.deepcopy(tensor)
    mutate(live)
    with pytest.raises(AssertionError):
        assert_same_json(live, tensor)


def test_a_different_dtype_in_base64_fails() -> None:
    bindata = golden("seldon_bindata")
    array = np.load(io.BytesIO(base64.b64decode(bindata["binData"])))
    buf = io.BytesIO()
    np.save(buf, array.astype("<i8"))
    with pytest.raises(AssertionError, match="dtype"):
        assert_same_json({**bindata, "binData": base64.b64encode(buf.getvalue()).decode()}, bindata)

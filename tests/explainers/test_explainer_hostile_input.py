"""Hostile and malformed explain requests: a 4xx naming the problem (parameter and bound, input, datatype), never a
500, and never an explanation that costs gigabytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from inferwatch.errors import UnprocessableEntity
from inferwatch.explainers import kinds
from inferwatch.explainers.core import explanation_json
from inferwatch.explainers.settings import ExplainerSettings
from inferwatch.protocols import limits
from tests.explainers.conftest import SETOSA, VIRGINICA, explainer


@pytest.fixture(scope="module")
def url(demo_model: str) -> Iterator[str]:
    with explainer(
        kind="anchor_tabular", model_url=demo_model, model_name="iris", explain_limit=["batch_size=500"]
    ) as (
        u,
        _,
    ):
        yield u
    limits.configure(limits.DEFAULT_MAX_ELEMENTS)


def v2_input(name: str, shape: list[int], data: list[Any], datatype: str = "FP64") -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"coverage_samples": 5_000_000}, "'coverage_samples' must be an integer from 1 to 100000, got 5000000"),
        ({"batch_size": 2_000_000}, "'batch_size' must be an integer from 1 to 500, got 2000000"),
        ({"threshold": 2}, "'threshold' must be a number in (0, 1], got 2"),
        ({"threshold": 0}, "'threshold' must be a number in (0, 1]"),
        ({"beam_size": 2.5}, "'beam_size' must be an integer"),
        ({"batch_size": True}, "'batch_size' must be an integer"),
    ],
)
def test_explain_parameters_outside_their_bounds_are_422(url: str, params: dict[str, Any], fragment: str) -> None:
    r = httpx.post(f"{url}/explain", json={"instances": [SETOSA], "parameters": params}, timeout=30)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]
    assert r.json()["error"]["details"]["parameter"] == next(iter(params))


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/v1/models/iris:explain", {"instances": [[1, 2, 3, 4], [1]]}, "ragged"),
        ("/explain", {"instances": [[1, 2, 3, 4], [1]]}, "ragged"),
        ("/api/v1.0/explain", {"data": {"ndarray": [SETOSA, [1.0]]}}, "ragged"),
        (
            "/v2/models/iris/infer",
            {"inputs": [v2_input("a", [2], [1.0, 2.0]), v2_input("b", [3], [1.0, 2.0, 3.0])]},
            "disagree on the batch size (a=2, b=3)",
        ),
        ("/v2/models/iris/infer", {"inputs": [v2_input("a", [], [1.0])]}, "shape [] (a scalar"),
        ("/v2/models/iris/infer", {"inputs": [v2_input("x", [1, 4], [1, 2, 3, 1000], "INT8")]}, "outside INT8's"),
        ("/v2/models/iris/infer", {"inputs": [v2_input("x", [2, 4], SETOSA)]}, "needs 8 values, data has 4"),
        ("/v2/models/iris/infer", {"inputs": [v2_input("x", [1, 4], [*SETOSA[:3], None])]}, "NaN or infinite"),
    ],
    ids=["kserve-ragged", "plain-ragged", "seldon-ragged", "v2-mixed-batch", "v2-scalar", "v2-int8", "v2-count", "nan"],
)
def test_instances_that_are_no_batch_of_numbers_are_422(url: str, path: str, body: Any, fragment: str) -> None:
    r = httpx.post(f"{url}{path}", json=body, timeout=30)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]


def test_a_huge_seldon_tensor_dimension_is_413(url: str) -> None:
    r = httpx.post(
        f"{url}/api/v1.0/explain", json={"data": {"tensor": {"shape": [2**62, 0], "values": []}}}, timeout=30
    )
    assert r.status_code == 413, r.text


def test_the_v2_route_answers_only_for_the_served_model(url: str) -> None:
    body = {"inputs": [v2_input("x", [1, 4], VIRGINICA)]}
    r = httpx.post(f"{url}/v2/models/not-iris/infer", json=body, timeout=30)
    assert r.status_code == 404, r.text
    assert "'not-iris' not found; this server serves 'iris'" in r.json()["error"]["message"]


def test_explain_limits_are_settings_checked_at_start() -> None:
    assert ExplainerSettings(explain_limit="batch_size=50,coverage_samples=10").explain_maxima == {
        "batch_size": 50,
        "coverage_samples": 10,
    }
    for bad in ("threshold=2", "unknown=5", "batch_size=x", "batch_size=0"):
        with pytest.raises(ValueError, match="explain limit"):
            ExplainerSettings(explain_limit=[bad])
    with pytest.raises(UnprocessableEntity, match="from 1 to 50"):
        kinds.check_params("anchor_tabular", {"batch_size": 51}, {"batch_size": 50})
    assert kinds.check_params("kernel_shap", {"nsamples": "auto"})["nsamples"] == "auto"


def test_nan_in_an_explanation_is_written_as_null() -> None:
    assert explanation_json('{"data": {"shap_values": [NaN, 1.5, Infinity]}}') == {
        "data": {"shap_values": [None, 1.5, None]}
    }

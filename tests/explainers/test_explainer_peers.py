"""Explanations of real models: Seldon Core's Python wrapper (Seldon v1) and MLServer (V2)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tests.explainers.conftest import SETOSA, VIRGINICA, explainer


def _predictions(explanations: list[dict[str, Any]]) -> list[int]:
    return [e["data"]["raw"]["prediction"][0] for e in explanations]


def test_seldon_wrapper_model_explained_per_instance(seldon_model_server: Any) -> None:
    with explainer(kind="anchor_tabular", model_url=seldon_model_server.url, protocol="seldon") as (url, core):
        body = {"data": {"names": ["a", "b", "c", "d"], "ndarray": [SETOSA, VIRGINICA]}}
        r = httpx.post(f"{url}/api/v1.0/explain", json=body, timeout=120)
        assert r.status_code == 200, r.text
        explanations = r.json()["explanations"]
        assert _predictions(explanations) == [0, 2]
        assert all(e["data"]["precision"] >= 0.9 for e in explanations)
        assert core.client.url == seldon_model_server.predictions_url


def test_seldon_wrapper_kernel_shap_and_model_error(seldon_model_server: Any) -> None:
    with explainer(kind="kernel_shap", model_url=seldon_model_server.url) as (url, _):
        r = httpx.post(f"{url}/explain", json={"instances": [VIRGINICA], "parameters": {"nsamples": 64}}, timeout=120)
        assert r.status_code == 200, r.text
        [e] = r.json()["explanations"]
        assert e["meta"]["name"] == "KernelShap" and len(e["data"]["shap_values"]) == 3
    # the explainer was fitted on 5 columns: the model refuses them and its own message comes back in a 502
    with explainer(kind="ale", model_url=seldon_model_server.url, option=[]) as (url, _):
        r = httpx.post(f"{url}/explain", json={"instances": [[*SETOSA, 1.0], [*VIRGINICA, 2.0]]}, timeout=120)
        assert r.status_code == 502
        assert "expected instances of 4 features" in r.json()["error"]["message"]


def test_mlserver_single_input_model_v2_endpoint(mlserver_model_server: Any) -> None:
    with explainer(kind="anchor_tabular", model_url=mlserver_model_server.url, protocol="v2", model_name="iris") as (
        url,
        core,
    ):
        body = {
            "id": "mls-1",
            "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [2, 4], "data": SETOSA + VIRGINICA}],
        }
        r = httpx.post(f"{url}/v2/models/iris/infer", json=body, timeout=120)
        assert r.status_code == 200, r.text
        [out] = r.json()["outputs"]
        assert out["name"] == "explanation" and out["shape"] == [2, 1]
        assert _predictions([orjson.loads(t) for t in out["data"]]) == [0, 2]
        assert core.client.url == mlserver_model_server.infer_url("iris")


def test_mlserver_multi_input_model_with_probabilities(mlserver_model_server: Any) -> None:
    """``iris-features`` takes one V2 input per feature (names from its metadata) and answers probabilities."""
    with explainer(
        kind="kernel_shap", model_url=mlserver_model_server.url, protocol="v2", model_name="iris-features"
    ) as (url, core):
        r = httpx.post(
            f"{url}/v1/models/iris-features:explain",
            json={"instances": [SETOSA, VIRGINICA], "parameters": {"nsamples": 64}},
            timeout=120,
        )
        assert r.status_code == 200, r.text
        explanations = r.json()["explanations"]
        assert len(explanations) == 2
        assert [len(e["data"]["shap_values"]) for e in explanations] == [3, 3]
        assert [i.name for i in core.client._v2_inputs or []] == [
            "sepal_length",
            "sepal_width",
            "petal_length",
            "petal_width",
        ]

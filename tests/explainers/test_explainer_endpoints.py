"""The explainer's endpoints against the demo iris model (Seldon, KServe v1 and V2 routes)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.explainers.conftest import SETOSA, VIRGINICA, explainer


@pytest.mark.parametrize("protocol", ["seldon", "kserve-v1", "v2"])
def test_anchor_every_instance_of_a_batch_over_each_protocol(demo_model: str, protocol: str) -> None:
    with explainer(kind="anchor_tabular", model_url=demo_model, protocol=protocol, model_name="iris") as (url, core):
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA, VIRGINICA]}, timeout=60)
        assert r.status_code == 200, r.text
        explanations = r.json()["explanations"]
        assert len(explanations) == 2
        assert [e["meta"]["name"] for e in explanations] == ["AnchorTabular", "AnchorTabular"]
        # each instance gets its own anchor and its own prediction: setosa (0) then virginica (2)
        assert [e["data"]["raw"]["prediction"][0] for e in explanations] == [0, 2]
        assert explanations[0]["data"]["anchor"] != explanations[1]["data"]["anchor"]
        assert all(e["data"]["precision"] >= 0.9 for e in explanations)
        assert core.client.calls > 0


def test_seldon_endpoint_one_instance_answers_its_explanation(demo_model: str) -> None:
    with explainer(kind="anchor_tabular", model_url=demo_model) as (url, _):
        for path in ("/api/v1.0/explain", "/api/v0.1/explain"):
            r = httpx.post(f"{url}{path}", json={"data": {"ndarray": [SETOSA]}}, timeout=60)
            assert r.status_code == 200, r.text
            assert r.json()["meta"]["name"] == "AnchorTabular"
            assert r.json()["data"]["raw"]["prediction"] == [0]
        batch = {"data": {"names": ["a", "b", "c", "d"], "tensor": {"shape": [2, 4], "values": SETOSA + VIRGINICA}}}
        r = httpx.post(f"{url}/api/v1.0/explain", json=batch, timeout=60)
        assert [e["data"]["raw"]["prediction"][0] for e in r.json()["explanations"]] == [0, 2]


def test_kserve_v1_and_v2_endpoints(demo_model: str) -> None:
    with explainer(kind="anchor_tabular", model_url=demo_model, protocol="v2", model_name="iris") as (url, _):
        r = httpx.post(f"{url}/v1/models/iris:explain", json={"instances": [VIRGINICA]}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["raw"]["prediction"] == [2]
        body = {
            "id": "req-1",
            "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [2, 4], "data": SETOSA + VIRGINICA}],
            "parameters": {"explain_parameters": {"threshold": 0.9}},
        }
        r = httpx.post(f"{url}/v2/models/iris/infer", json=body, timeout=60)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["id"] == "req-1" and out["model_name"] == "iris"
        [tensor] = out["outputs"]
        assert tensor["name"] == "explanation" and tensor["datatype"] == "BYTES" and tensor["shape"] == [2, 1]
        assert tensor["parameters"] == {"content_type": "str"}
        parsed = [orjson.loads(text) for text in tensor["data"]]
        assert [e["meta"]["params"]["threshold"] for e in parsed] == [0.9, 0.9]


def test_per_request_parameters_reach_the_explainer(demo_model: str) -> None:
    with explainer(kind="kernel_shap", model_url=demo_model) as (url, core):
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA], "parameters": {"nsamples": 50}}, timeout=60)
        assert r.status_code == 200, r.text
        [e] = r.json()["explanations"]
        assert e["meta"]["name"] == "KernelShap"
        assert len(e["data"]["shap_values"]) == 3  # one array per class
        assert len(e["data"]["shap_values"][0][0]) == 4
        calls_before = core.client.calls
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA, VIRGINICA]}, timeout=60)
        assert len(r.json()["explanations"]) == 2
        # shap asks for ~2000 perturbations per instance here; they reach the model in a few large calls
        assert core.client.calls - calls_before <= 10


def test_model_calls_are_split_to_the_configured_batch_size(demo_model: str) -> None:
    with explainer(kind="anchor_tabular", model_url=demo_model, batch_size=20) as (url, core):
        before = core.client.calls
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA], "parameters": {"batch_size": 100}}, timeout=60)
        assert r.status_code == 200
        small = core.client.calls - before
    with explainer(kind="anchor_tabular", model_url=demo_model, batch_size=5000) as (url, core):
        before = core.client.calls
        httpx.post(f"{url}/explain", json={"instances": [SETOSA], "parameters": {"batch_size": 100}}, timeout=60)
        large = core.client.calls - before
    assert small > large  # alibi's batches of 100 are split into chunks of at most 20 rows


@pytest.mark.parametrize("kind", ["ale", "partial_dependence"])
def test_global_kinds_explain_the_batch(demo_model: str, kind: str) -> None:
    with explainer(kind=kind, model_url=demo_model, option=["target=species"]) as (url, _):
        params = {"features": [0]} if kind == "partial_dependence" else {}
        r = httpx.post(
            f"{url}/explain",
            json={"instances": [SETOSA, VIRGINICA, [5.9, 3.0, 4.2, 1.5]], "parameters": params},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        [e] = r.json()["explanations"]
        assert e["meta"]["explanations"] == ["global"]
        assert e["data"]["feature_names"][0] == "sepal_length"


def test_permutation_importance_needs_labels(demo_model: str) -> None:
    with explainer(kind="permutation_importance", model_url=demo_model, option=["target=species"]) as (url, _):
        X = [SETOSA, VIRGINICA, [5.9, 3.0, 4.2, 1.5], [5.0, 3.4, 1.5, 0.2]]
        r = httpx.post(f"{url}/explain", json={"instances": X}, timeout=60)
        assert r.status_code == 422
        assert "parameters.y" in r.json()["error"]["message"]
        r = httpx.post(f"{url}/explain", json={"instances": X, "parameters": {"y": [0, 2, 1, 0]}}, timeout=60)
        assert r.status_code == 200, r.text
        [e] = r.json()["explanations"]
        assert e["meta"]["name"] == "PermutationImportance"
        assert len(e["data"]["feature_importance"][0]) == 4


def test_health_and_metrics(demo_model: str) -> None:
    from fastapi.testclient import TestClient

    from inferwatch.explainers.app import create_explainer_admin_app

    with explainer(kind="anchor_tabular", model_url=demo_model) as (url, core):
        for path in ("/health/ping", "/health/status", "/v2/health/live", "/v2/health/ready", "/v2/models/model/ready"):
            assert httpx.get(f"{url}{path}").status_code == 200
        assert httpx.get(f"{url}/v2/models/x/ready").status_code == 404  # not the served model
        httpx.post(f"{url}/explain", json={"instances": [SETOSA]}, timeout=60)
        httpx.post(f"{url}/explain", json={"instances": [[1, 2]]}, timeout=60)
        admin = TestClient(create_explainer_admin_app(core))
        text = admin.get("/metrics").text
        assert 'inferwatch_explainer_explain_seconds_count{kind="anchor_tabular"} 1.0' in text
        assert 'inferwatch_explainer_errors_total{type="UnprocessableEntity"} 1.0' in text
        assert 'inferwatch_explainer_explanations_total{kind="anchor_tabular"} 1.0' in text
        calls = [line for line in text.splitlines() if line.startswith("inferwatch_explainer_model_calls_sum")]
        assert calls and float(calls[0].split()[-1]) > 0
        assert admin.get("/health/ready").json()["ok"] is True


def test_concurrent_requests_each_get_their_own_explanations(demo_model: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with explainer(kind="anchor_tabular", model_url=demo_model) as (url, _):
        batches = [[SETOSA], [VIRGINICA], [SETOSA, VIRGINICA]]

        def post(batch: list[list[float]]) -> list[int]:
            r = httpx.post(f"{url}/explain", json={"instances": batch}, timeout=60)
            assert r.status_code == 200, r.text
            return [e["data"]["raw"]["prediction"][0] for e in r.json()["explanations"]]

        with ThreadPoolExecutor(3) as pool:
            assert list(pool.map(post, batches)) == [[0], [2], [0, 2]]

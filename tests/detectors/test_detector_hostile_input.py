"""Hostile and malformed input to a detector: a precise 4xx naming the problem, never a 500 or a silent coercion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inferwatch.detectors.app import create_app
from inferwatch.detectors.core import DetectorCore
from inferwatch.protocols import limits

CE = {
    "ce-id": "evt-1",
    "ce-source": "seldon/iris",
    "ce-specversion": "1.0",
    "ce-requestid": "req-42",
    "content-type": "application/json",
}
ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def client(ks_core: DetectorCore) -> Iterator[TestClient]:
    with TestClient(create_app(ks_core.settings, ks_core), raise_server_exceptions=False) as c:
        yield c
    limits.configure(limits.DEFAULT_MAX_ELEMENTS)


def v2_input(name: str, datatype: str, shape: list[int], data: list[Any]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def test_transform_input_with_tags_that_are_not_an_object_is_400(client: TestClient) -> None:
    r = client.post("/transform-input", json={"data": {"ndarray": [ROW]}, "meta": {"tags": 5}})
    assert r.status_code == 400, r.text
    assert "meta.tags" in r.json()["error"]["message"]


def test_unknown_ce_type_is_400_naming_the_accepted_types(client: TestClient) -> None:
    r = client.post("/", json={"data": {"ndarray": [ROW]}}, headers={**CE, "ce-type": "com.example.unknown"})
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "com.example.unknown" in message and "io.seldon.serving.inference.request" in message


@pytest.mark.parametrize(
    ("datatype", "value", "fragment"),
    [
        ("INT8", 1000, "value 1000 is outside INT8's range"),
        ("UINT8", -1, "value -1 is outside UINT8's range"),
        ("BOOL", 2, "value 2 is not a boolean"),
        ("FP16", 70000.0, "value 70000 overflows FP16"),
    ],
)
def test_a_value_outside_its_v2_datatype_is_422(client: TestClient, datatype: str, value: Any, fragment: str) -> None:
    body = {"inputs": [v2_input("petal", datatype, [1, 4], [1, 1, 1, value])]}
    r = client.post("/v2/models/detector/infer", json=body)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"] and "'petal'" in r.json()["error"]["message"]


def test_a_shape_that_differs_from_the_data_is_422_naming_the_input(client: TestClient) -> None:
    body = {"inputs": [v2_input("x", "FP32", [2, 4], ROW)]}
    r = client.post("/v2/models/detector/infer", json=body)
    assert r.status_code == 422, r.text
    assert "inputs[0] ('x'): shape [2, 4] needs 8 values, data has 4" in r.json()["error"]["message"]


def test_an_amplifying_tftensor_is_422_before_any_detection(client: TestClient, ks_core: DetectorCore) -> None:
    tf = {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "500000"}, {"size": "4"}]}, "floatVal": [1.0]}
    r = client.post("/api/v1.0/predictions", json={"data": {"tftensor": tf}})
    assert r.status_code == 422, r.text
    assert "floatVal has 1" in r.json()["error"]["message"]
    assert ks_core.window.received == 0


def test_a_huge_dimension_is_413_and_counted(client: TestClient, ks_core: DetectorCore) -> None:
    r = client.post("/api/v1.0/predictions", json={"data": {"tensor": {"shape": [2**62, 0], "values": []}}})
    assert r.status_code == 413, r.text
    assert "exceeds the limit of 10,000,000 elements" in r.json()["error"]["message"]
    assert ks_core.registry.get_sample_value("inferwatch_elements_refused_total") == 1


def test_the_element_limit_is_a_setting(make_core: Any, ks_dir: Any, tmp_path: Any) -> None:
    core = make_core(ks_dir, tmp_path, max_elements=8)
    with TestClient(create_app(core.settings, core)) as c:
        assert c.post("/api/v1.0/predictions", json={"data": {"ndarray": [ROW, ROW]}}).status_code == 200
        r = c.post("/api/v1.0/predictions", json={"data": {"ndarray": [ROW, ROW, ROW]}})
        assert r.status_code == 413 and "more than 8 elements" in r.json()["error"]["message"]
    limits.configure(limits.DEFAULT_MAX_ELEMENTS)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"inputs": [v2_input("a", "FP64", [2], [1.0, 2.0]), v2_input("b", "FP64", [3], [1.0, 2.0, 3.0])]},
            "disagree on the batch size (a=2, b=3)",
        ),
        ({"inputs": [v2_input("a", "FP64", [], [1.0])]}, "shape []"),
    ],
    ids=["mixed-batch-sizes", "scalar"],
)
def test_v2_inputs_that_are_not_one_batch_are_422(client: TestClient, body: dict[str, Any], fragment: str) -> None:
    r = client.post("/v2/models/detector/infer", json=body)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]


def test_ragged_instances_are_422(client: TestClient) -> None:
    r = client.post("/api/v1.0/predictions", json={"data": {"ndarray": [ROW, [1.0]]}})
    assert r.status_code == 422, r.text
    assert "ragged" in r.json()["error"]["message"]

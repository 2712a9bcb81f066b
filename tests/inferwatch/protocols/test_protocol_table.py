"""The codec table, path routing and the logger's entry point ``decode_body``."""

from __future__ import annotations

import gzip

import orjson
import pytest

from inferwatch.errors import UnknownProtocol
from inferwatch.protocols import CODECS, decode_body, get_codec, model_from_path, protocol_for_path

V2_BODY = orjson.dumps({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]})
SELDON_BODY = orjson.dumps({"data": {"ndarray": [[1, 2]]}})
KSERVE_BODY = orjson.dumps({"instances": [[1, 2]]})


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("seldon", "seldon"),
        ("v2", "v2"),
        ("kserve-v1", "kserve-v1"),
        ("tensorflow", "kserve-v1"),
        ("tfserving", "kserve-v1"),
        ("kserve", "kserve-v1"),
        ("oip", "v2"),
        ("open-inference", "v2"),
        ("kserve-v2", "v2"),
        ("KFServing", "v2"),
    ],
)
def test_get_codec_aliases(alias: str, name: str) -> None:
    assert get_codec(alias).name == name
    assert get_codec(alias) is CODECS[name]


def test_unknown_protocol_lists_known_names() -> None:
    with pytest.raises(UnknownProtocol) as e:
        get_codec("grpc")
    assert "seldon" in e.value.message and "kserve-v1" in e.value.message and e.value.status_code == 400


@pytest.mark.parametrize(
    ("path", "protocol"),
    [
        ("/api/v1.0/predictions", "seldon"),
        ("/api/v0.1/predictions", "seldon"),
        ("/seldon/ns/dep/api/v1.0/predictions?x=1", "seldon"),
        ("/api/v1.0/feedback", "seldon"),
        ("/predict", "seldon"),
        ("/transform-input", "seldon"),
        ("/v2/models/iris/infer", "v2"),
        ("/v2/models/iris/versions/3/infer", "v2"),
        ("/seldon/ns/dep/v2/models/iris/infer", "v2"),
        ("/v1/models/iris:predict", "kserve-v1"),
        ("/v1/models/iris:explain", "kserve-v1"),
        ("/v1/models/iris/versions/2:predict", "kserve-v1"),
        ("/v2/models/iris/ready", None),
        ("/health/ping", None),
        ("/metrics", None),
    ],
)
def test_protocol_for_path(path: str, protocol: str | None) -> None:
    assert protocol_for_path(path) == protocol


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/models/iris/infer", ("iris", None)),
        ("/v2/models/iris/versions/3/infer", ("iris", "3")),
        ("/v1/models/my%20model:predict", ("my model", None)),
        ("/v1/models/half_plus_two/versions/1:predict", ("half_plus_two", "1")),
        ("/api/v1.0/predictions", (None, None)),
    ],
)
def test_model_from_path(path: str, expected: tuple[str | None, str | None]) -> None:
    assert model_from_path(path) == expected


def test_sniffing_picks_each_format() -> None:
    assert decode_body(V2_BODY, kind="request").protocol == "v2"
    assert decode_body(SELDON_BODY, kind="request").protocol == "seldon"
    assert decode_body(KSERVE_BODY, kind="request").protocol == "kserve-v1"


def test_hint_beats_path_and_path_fills_model() -> None:
    d = decode_body(V2_BODY, kind="request", path="/v2/models/iris/versions/7/infer")
    assert d.protocol == "v2" and d.payload is not None
    assert (d.payload.model_name, d.payload.model_version) == ("iris", "7")
    # a bare {"error": ...} is a V2 error on a V2 path, a TF error with the tensorflow hint
    err = b'{"error": "boom"}'
    assert decode_body(err, kind="response", path="/v2/models/iris/infer").protocol == "v2"
    hinted = decode_body(err, kind="response", protocol="tensorflow", path="/v2/models/iris/infer")
    assert hinted.protocol == "kserve-v1" and hinted.payload is not None and hinted.payload.error == "boom"


def test_wrong_hint_falls_back_to_a_codec_that_understands() -> None:
    d = decode_body(KSERVE_BODY, kind="request", protocol="seldon")
    assert d.protocol == "kserve-v1" and d.payload is not None and d.error is None


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", "empty body"),
        (b"<html>oops</html>", "not JSON"),
        (gzip.compress(b'{"a": 1}'), "not UTF-8"),
        (b'{"foo": 1}', "no codec recognises the body (object with keys: foo)"),
        (b"[1, 2]", "no codec recognises the body (JSON list)"),
    ],
)
def test_bad_bodies_never_raise(raw: bytes, error: str) -> None:
    d = decode_body(raw, kind="request", content_type="application/json")
    assert d.payload is None and d.error is not None and error in d.error


def test_codec_failure_is_reported_with_the_parsed_json() -> None:
    raw = b'{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1]}]}'
    d = decode_body(raw, kind="request", path="/v2/models/m/infer")
    assert d.payload is None and d.json is not None and d.protocol == "v2"
    assert d.error is not None and "needs 3 values" in d.error


def test_seldon_form_encoded_body() -> None:
    d = decode_body(
        b"json=%7B%22data%22%3A%7B%22ndarray%22%3A%5B%5B1%5D%5D%7D%7D",
        kind="request",
        content_type="application/x-www-form-urlencoded",
        path="/predict",
    )
    assert d.protocol == "seldon" and d.payload is not None
    assert d.payload.rows() == [{"data": 1}]


def test_decode_100x20_float_matrix_is_fast() -> None:
    import time

    body = orjson.dumps({"data": {"ndarray": [[float(i * j) / 7 for j in range(20)] for i in range(100)]}})
    decode_body(body, kind="request")
    start = time.perf_counter()
    for _ in range(50):
        d = decode_body(body, kind="request")
    per_call = (time.perf_counter() - start) / 50
    assert d.payload is not None and d.payload.tensors[0].shape == [100, 20]
    assert per_call < 0.005  # generous bound for a shared 2-core machine; typically ~0.2 ms

"""Property tests (hypothesis) of every codec, the V2 binary extension, the CloudEvents parser and the record
builder: whatever arrives, they raise nothing but the project's own errors (which carry an HTTP status), and the
record builder never loses an exchange.

Examples are derandomised (the same ones in every run: CI is reproducible) and drawn from two kinds of input:
arbitrary JSON, and "almost valid" protocol bodies — the right keys with hostile values (huge or negative
dimensions, wrong datatypes, ragged data, out-of-range numbers), which is where decoders break.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.errors import InferwatchError
from inferwatch.protocols import CODECS, decode_body
from inferwatch.protocols.cloudevents import inference_info, parse_http
from inferwatch.protocols.datatypes import V2_TO_NUMPY
from inferwatch.protocols.v2_binary import parse_binary
from inferwatch.redact import Redactor

PROPERTY = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
DATATYPES = [*V2_TO_NUMPY, "BYTES", "FP128", "int32", ""]
dims = st.integers(-3, 2**63) | st.sampled_from([0, 1, 2, 3, 4]) | st.floats() | st.text(max_size=3)
shapes = st.lists(dims, max_size=4) | json_values
data = st.lists(scalars, max_size=12) | st.lists(st.lists(scalars, max_size=4), max_size=4) | json_values


@st.composite
def consistent_tensors(draw: st.DrawFn) -> dict[str, Any]:
    """A V2 tensor whose shape matches its data, of a real datatype: values may still be out of its range."""
    rows, cols = draw(st.integers(0, 4)), draw(st.integers(1, 4))
    datatype = draw(st.sampled_from([*V2_TO_NUMPY, "BYTES"]))
    value = st.integers(-(2**65), 2**65) | st.floats() | st.booleans() | st.text(max_size=3)
    flat = draw(st.lists(value, min_size=rows * cols, max_size=rows * cols))
    nested = draw(st.booleans())
    body = [flat[i * cols : (i + 1) * cols] for i in range(rows)] if nested else flat
    return {"name": draw(st.sampled_from(["a", "b", "age"])), "shape": [rows, cols], "datatype": datatype, "data": body}


@st.composite
def v2_bodies(draw: st.DrawFn) -> dict[str, Any]:
    loose = st.fixed_dictionaries(
        {"name": st.text(max_size=4) | json_values, "shape": shapes, "datatype": st.sampled_from(DATATYPES)},
        optional={"data": data, "parameters": json_values},
    )
    body: dict[str, Any] = {"inputs": draw(st.lists(consistent_tensors() | loose, max_size=3))}
    if draw(st.booleans()):
        body["outputs"] = body.pop("inputs")
        body["model_name"] = draw(st.text(max_size=4))
    return body


@st.composite
def seldon_bodies(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["ndarray", "tensor", "tftensor", "names"]))
    inner: dict[str, Any]
    if kind == "ndarray":
        inner = {"ndarray": draw(data)}
    elif kind == "tensor":
        inner = {"tensor": {"shape": draw(shapes), "values": draw(data)}}
    elif kind == "tftensor":
        tf_dims = st.lists(st.fixed_dictionaries({"size": dims}), max_size=3)
        inner = {"tftensor": {"dtype": draw(st.text(max_size=12)), "tensorShape": {"dim": draw(tf_dims)}}}
        inner["tftensor"][draw(st.sampled_from(["floatVal", "intVal", "doubleVal", "int64Val"]))] = draw(data)
    else:
        inner = {"names": draw(json_values), "ndarray": draw(data)}
    return {"data": inner, "meta": draw(json_values)}


@st.composite
def kserve_bodies(draw: st.DrawFn) -> dict[str, Any]:
    return {draw(st.sampled_from(["instances", "inputs", "predictions"])): draw(data)}


protocol_bodies = v2_bodies() | seldon_bodies() | kserve_bodies() | json_values


def _wire(doc: Any) -> bytes:
    """JSON as a client may send it: integers beyond 64 bits, NaN and Infinity included."""
    return json.dumps(doc).encode()


def _only_our_errors(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except InferwatchError as e:
        assert 400 <= e.status_code < 600 and e.message


@PROPERTY
@given(protocol_bodies)
def test_every_codec_raises_only_its_own_errors(body: Any) -> None:
    for codec in CODECS.values():
        _only_our_errors(codec.decode_request, body)
        _only_our_errors(codec.decode_response, body)


@PROPERTY
@given(st.binary(max_size=200) | protocol_bodies.map(_wire), st.sampled_from(["request", "response"]))
def test_decode_body_never_raises_and_explains_every_failure(raw: bytes, kind: str) -> None:
    for protocol in (None, *CODECS):
        decoded = decode_body(raw, kind=kind, protocol=protocol)
        assert (decoded.payload is None) == (decoded.error is not None)
        assert decoded.status in (400, 413, 422)


@PROPERTY
@given(protocol_bodies.map(_wire), st.binary(max_size=64), st.integers(-5, 300))
def test_the_binary_extension_raises_only_our_errors(header: bytes, tail: bytes, length: int) -> None:
    _only_our_errors(parse_binary, header + tail, length)
    decoded = decode_body(header + tail, kind="request", header_length=length)
    assert (decoded.payload is None) == (decoded.error is not None)


header_names = st.sampled_from(
    ["ce-id", "ce-source", "ce-type", "ce-specversion", "ce-requestid", "ce-modelid", "ce-time", "ce-endpoint"]
)


@PROPERTY
@given(
    st.dictionaries(header_names, st.text(max_size=12), max_size=8),
    st.sampled_from(["application/json", "application/cloudevents+json", "", "text/plain; charset=utf-8"]),
    st.binary(max_size=100) | json_values.map(_wire),
)
def test_the_cloudevents_parser_raises_only_our_errors(headers: dict[str, str], media: str, body: bytes) -> None:
    try:
        event = parse_http({**headers, "content-type": media}, body)
    except InferwatchError as e:
        assert e.status_code == 400
        return
    _only_our_errors(inference_info, event)


@PROPERTY
@given(
    st.fixed_dictionaries(
        {"specversion": st.sampled_from(["1.0", "0.3", "2"]), "id": st.text(max_size=4), "source": st.text(max_size=4)},
        optional={"type": st.text(max_size=40), "data": json_values, "data_base64": st.text(max_size=8)},
    )
)
def test_structured_cloudevents_raise_only_our_errors(doc: dict[str, Any]) -> None:
    try:
        event = parse_http({"content-type": "application/cloudevents+json"}, _wire(doc))
    except InferwatchError as e:
        assert e.status_code == 400
        return
    _only_our_errors(inference_info, event)


bodies = st.one_of(
    st.binary(max_size=120),
    protocol_bodies.map(_wire),
    protocol_bodies.map(lambda b: gzip.compress(_wire(b))),
)
BUILDERS = [RecordBuilder(), RecordBuilder(Redactor([], ["ssn", "name"])), RecordBuilder(Redactor([], ["ssn"]), "keep")]


@settings(PROPERTY, max_examples=200)
@given(
    bodies,
    bodies | st.none(),
    st.sampled_from([None, "gzip", "deflate", "br"]),
    st.sampled_from([None, "/api/v1.0/predictions", "/v2/models/m/infer", "/v1/models/m:predict", "/x"]),
    st.integers(100, 600) | st.none(),
    st.booleans(),
)
def test_the_record_builder_never_loses_an_exchange(
    request: bytes, response: bytes | None, encoding: str | None, path: str | None, status: int | None, cut: bool
) -> None:
    t = time.time()
    limit = 40 if cut else 1 << 20
    ex = Exchange(
        "fuzz-1",
        t,
        t,
        Body.capture(request, "application/json", limit, encoding),
        None if response is None else Body.capture(response, "application/json", limit),
        status,
        "POST",
        path,
    )
    for builder in BUILDERS:
        built = builder.build(builder.scrub(ex))
        records = built if isinstance(built, list) else [built]
        assert records and all(r.id.startswith("fuzz-1") for r in records)
        for r in records:
            assert orjson.loads(r.to_json())["id"] == r.id  # every record can be written as it is

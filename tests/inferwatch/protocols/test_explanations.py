"""Explainer answers (alibi's ``Explanation.to_json()``) are recognised, not flagged as parse errors."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.protocols import decode_body
from inferwatch.protocols.decode import EXPLANATION, is_explanation
from inferwatch.records import Flag

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
# written by alibi 0.9.6: AnchorTabular on a scikit-learn iris forest, explain(X[0], threshold=0.95)
ANCHOR = (TESTDATA / "explainers" / "anchor_tabular_iris_explanation.json").read_bytes()
SELDON_RESPONSE = (TESTDATA / "protocols" / "seldon__response__ndarray_names.json").read_bytes()


@pytest.mark.parametrize("path", ["/api/v1.0/explain", "/v1/models/iris:explain", "/explain", None])
def test_alibi_explanation_response_is_understood(path: str | None) -> None:
    d = decode_body(ANCHOR, kind="response", path=path, content_type="application/json")
    assert (d.protocol, d.error, d.payload) == (EXPLANATION, None, None)
    assert d.json is not None and d.json["meta"]["name"] == "AnchorTabular"


def test_other_bodies_are_not_explanations() -> None:
    assert decode_body(SELDON_RESPONSE, kind="response", path="/api/v1.0/predictions").protocol == "seldon"
    assert not is_explanation(orjson.loads(SELDON_RESPONSE))
    assert not is_explanation({"meta": {"name": "x"}, "data": {}})  # no list of explanation kinds
    assert not is_explanation([1, 2])
    # the same JSON sent as a request is not an explainer's answer
    assert decode_body(ANCHOR, kind="request").protocol != EXPLANATION


def test_record_of_a_proxied_explain_call_has_no_parse_error() -> None:
    request = b'{"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}'
    t0 = time.time()
    ex = Exchange(
        request_id="r-explain",
        received_at=t0,
        responded_at=t0 + 0.3,
        method="POST",
        path="/api/v1.0/explain",
        status_code=200,
        request=Body(request, "application/json", len(request)),
        response=Body(ANCHOR, "application/json", len(ANCHOR)),
    )
    rec = RecordBuilder().build(ex)
    assert not rec.has(Flag.PARSE_ERROR), rec.flags
    assert rec.response is not None and rec.response.protocol == EXPLANATION and rec.response.parse_error is None
    assert rec.request is not None and rec.request.protocol == "seldon"
    assert orjson.loads(rec.response.raw)["data"]["anchor"] == orjson.loads(ANCHOR)["data"]["anchor"]

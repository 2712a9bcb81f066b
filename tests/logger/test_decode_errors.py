"""Bodies the codecs refuse are still recorded, their decode error with them: never a ``build_error`` drop."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.logger.test_proxy import echo_url  # noqa: F401  (module fixture: an upstream that echoes)

V2_BODY = orjson.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]})


@pytest.mark.parametrize("value", ["\u00b2".encode(), b"9" * 5000, b"1_0"], ids=["superscript", "5000-digits", "_"])
def test_an_invalid_header_length_is_recorded_with_the_error_flagged(run_logger, echo_url: str, value: bytes) -> None:  # noqa: F811
    with run_logger(upstream=echo_url) as lg:
        headers = {"content-type": "application/json", "inference-header-content-length": value}
        r = httpx.post(f"{lg.url}/v2/models/m/infer", content=V2_BODY, headers=headers)  # type: ignore[arg-type]
        assert r.status_code == 200 and r.content == V2_BODY  # the model's answer, untouched
        rec = lg.wait_record(r.headers["x-request-id"])
        assert "parse_error" in rec.flags
        assert "Inference-Header-Content-Length" in (rec.request.parse_error or "")
        assert rec.response.raw == V2_BODY.decode()
        assert lg.metric("inferwatch_records_dropped_total", sink="intake", reason="build_error") == 0


def test_an_amplifying_tftensor_is_recorded_with_its_decode_error(run_logger, echo_url: str) -> None:  # noqa: F811
    """111 bytes declaring 2,000,000 values: the record keeps the bytes as sent and says why they did not decode."""
    tf = {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2000000"}]}, "floatVal": [1.0]}
    body = orjson.dumps({"data": {"tftensor": tf}})
    with run_logger(upstream=echo_url) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", content=body, headers={"content-type": "application/json"})
        rec = lg.wait_record(r.headers["x-request-id"])
    assert "parse_error" in rec.flags and rec.request.raw == body.decode()
    assert "declares 2000000 values, floatVal has 1" in (rec.request.parse_error or "")
    assert not rec.instances or all(i["request"] is None for i in rec.instances)

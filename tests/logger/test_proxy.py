"""The logger in proxy mode in front of real HTTP upstreams started by the test: the demo's iris model
server (Seldon v1, V2, KServe v1) and a minimal echo model that reflects what it received."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from inferwatch.demo.model_server import create_model_app, train_iris
from tests.servers import free_port, serving

SELDON = {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}


@pytest.fixture(scope="module")
def iris_url() -> Iterator[str]:
    with serving(create_model_app(train_iris())) as url:
        yield url


async def _echo(request: Request) -> Response:
    body = await request.body()
    headers = {
        "x-echo-method": request.method,
        "x-echo-query": request.url.query,
        "x-echo-custom": request.headers.get("x-custom", ""),
        "x-echo-length": str(len(body)),
        "set-cookie": "a=1",
    }
    status = int(request.headers.get("x-status", "200"))
    if request.url.path.endswith("/stream"):

        async def gen() -> Iterator[bytes]:  # type: ignore[misc]
            for i in range(50):
                yield b"chunk-%d;" % i

        return StreamingResponse(gen(), status_code=status, headers=headers, media_type="text/plain")
    return Response(body, status_code=status, headers=headers, media_type=request.headers.get("content-type"))


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    app = Starlette(routes=[Route("/{path:path}", _echo, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])])
    with serving(app) as url:
        yield url


def test_seldon_request_is_forwarded_unchanged_and_recorded(run_logger, iris_url: str) -> None:
    direct = httpx.post(f"{iris_url}/api/v1.0/predictions", json=SELDON)
    with run_logger(upstream=iris_url) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", json=SELDON)
        assert r.status_code == 200
        assert r.content == direct.content
        rid = r.headers["x-request-id"]
        rec = lg.wait_record(rid)
    assert rec.protocol == "seldon" and rec.status_code == 200 and rec.method == "POST"
    assert rec.path == "/api/v1.0/predictions" and rec.latency_ms is not None and rec.latency_ms > 0
    assert rec.flags == []
    assert orjson.loads(rec.request.raw) == SELDON
    assert orjson.loads(rec.response.raw) == orjson.loads(direct.content)
    assert len(rec.instances) == 1
    req_row, resp_row = rec.instances[0]["request"], rec.instances[0]["response"]
    assert list(req_row.values()) == [5.1, 3.5, 1.4, 0.2]
    assert set(resp_row) == {"setosa", "versicolor", "virginica"}
    assert resp_row["setosa"] > 0.5


def test_v2_batch_uses_body_id_and_records_every_instance(run_logger, iris_url: str) -> None:
    body = {
        "id": "v2-req-42",
        "inputs": [
            {
                "name": "predict",
                "shape": [3, 4],
                "datatype": "FP32",
                "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3, 5.9, 3.0, 4.2, 1.5],
            }
        ],
    }
    with run_logger(upstream=iris_url) as lg:
        r = httpx.post(f"{lg.url}/v2/models/iris/infer", json=body)
        assert r.status_code == 200, r.text
        assert r.headers["x-request-id"] == "v2-req-42"
        rec = lg.wait_record("v2-req-42")
    assert rec.protocol == "v2" and rec.model_name == "iris"
    assert len(rec.instances) == 3
    assert all(inst["response"] is not None for inst in rec.instances)


def test_a_v2_body_id_that_is_no_header_text_is_returned_percent_encoded(run_logger, iris_url: str) -> None:
    """Found by schemathesis: a V2 ``id`` outside latin-1 made the proxy's x-request-id header raise (500)."""
    body = {"id": "Ā\nx", "inputs": [{"name": "predict", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    with run_logger(upstream=iris_url) as lg:
        r = httpx.post(f"{lg.url}/v2/models/iris/infer", json=body)
        assert r.status_code == 200, r.text
        assert r.headers["x-request-id"] == "%C4%80%0Ax"
        assert lg.wait_record("Ā\nx").model_name == "iris"


@pytest.mark.parametrize("header", ["x-request-id", "Seldon-Puid", "Ce-Requestid"])
def test_incoming_request_id_is_honoured(run_logger, iris_url: str, header: str) -> None:
    with run_logger(upstream=iris_url) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", json=SELDON, headers={header: f"id-{header}"})
        assert r.headers["x-request-id"] == f"id-{header}"
        assert lg.wait_record(f"id-{header}").status_code == 200


def test_everything_passes_through_and_model_errors_are_logged(run_logger, echo_url: str) -> None:
    with run_logger(upstream=echo_url) as lg:
        r = httpx.put(
            f"{lg.url}/some/path?a=1&b=two",
            content=b"hello",
            headers={"x-custom": "yes", "x-status": "503", "content-type": "text/plain"},
        )
        assert r.status_code == 503
        assert r.content == b"hello"
        assert r.headers["x-echo-method"] == "PUT"
        assert r.headers["x-echo-query"] == "a=1&b=two"
        assert r.headers["x-echo-custom"] == "yes"
        assert r.headers["set-cookie"] == "a=1"
        rec = lg.wait_record(r.headers["x-request-id"])
    assert rec.status_code == 503 and rec.method == "PUT" and rec.path == "/some/path"
    assert rec.request.raw == "hello" and rec.response.raw == "hello"
    assert "parse_error" in rec.flags  # not JSON: kept raw and flagged


def test_malformed_json_and_binary_bodies_are_proxied_and_kept_raw(run_logger, echo_url: str) -> None:
    with run_logger(upstream=echo_url) as lg:
        bad = b'{"data": {"ndarray": [[1, 2'
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", content=bad, headers={"content-type": "application/json"})
        assert r.content == bad
        rec = lg.wait_record(r.headers["x-request-id"])
        assert rec.request.raw == bad.decode() and "parse_error" in rec.flags
        assert rec.request.parse_error
        blob = bytes(range(256))
        r = httpx.post(f"{lg.url}/bin", content=blob, headers={"content-type": "application/octet-stream"})
        assert r.content == blob
        rec = lg.wait_record(r.headers["x-request-id"])
    assert rec.request.raw_encoding == "base64"
    assert base64.b64decode(rec.request.raw) == blob


def test_oversize_payload_is_truncated_and_flagged(run_logger, echo_url: str) -> None:
    big = orjson.dumps({"data": {"ndarray": [[float(i)] * 10 for i in range(500)]}})
    with run_logger(upstream=echo_url, max_payload_bytes=1000) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", content=big, headers={"content-type": "application/json"})
        assert r.content == big  # the caller gets everything
        rec = lg.wait_record(r.headers["x-request-id"])
    assert "truncated" in rec.flags and "parse_error" not in rec.flags
    assert rec.request.truncated and rec.request.size == len(big) and len(rec.request.raw) == 1000


def test_streamed_bodies_pass_through_both_ways(run_logger, echo_url: str) -> None:
    def chunks() -> Iterator[bytes]:
        for i in range(20):
            yield b"part-%d," % i

    with run_logger(upstream=echo_url) as lg:
        r = httpx.post(f"{lg.url}/x", content=chunks())  # chunked upload, no content-length
        expected = b"".join(chunks())
        assert r.content == expected
        rec = lg.wait_record(r.headers["x-request-id"])
        assert rec.request.raw == expected.decode() and rec.request.size == len(expected)
        r = httpx.get(f"{lg.url}/x/stream")  # chunked download
        assert r.content == b"".join(b"chunk-%d;" % i for i in range(50))
        rec = lg.wait_record(r.headers["x-request-id"])
        assert rec.response.raw == r.text


def test_model_down_gives_a_clear_502_and_is_recorded(run_logger) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with run_logger(upstream=dead) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", json=SELDON)
        assert r.status_code == 502
        err = r.json()["error"]
        assert err["type"] == "UpstreamError" and dead in err["message"]
        rec = lg.wait_record(r.headers["x-request-id"])
        assert "upstream_error" in rec.flags and rec.status_code == 502 and dead in (rec.error or "")
        assert lg.metric("inferwatch_logger_upstream_errors_total", reason="unreachable") == 1


def test_skip_logging_and_sampling_are_not_recorded_but_counted(run_logger, iris_url: str) -> None:
    with run_logger(upstream=iris_url) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", json=SELDON, headers={"Seldon-Skip-Logging": "true"})
        assert r.status_code == 200
        logged = httpx.post(f"{lg.url}/api/v1.0/predictions", json=SELDON)
        lg.wait_record(logged.headers["x-request-id"])
        assert lg.store.count() == 1
        assert lg.metric("inferwatch_logger_skipped_total", reason="skip_header") == 1
    with run_logger(upstream=iris_url, sample_rate=0.0) as lg:
        for _ in range(5):
            assert httpx.post(f"{lg.url}/api/v1.0/predictions", json=SELDON).status_code == 200
        assert lg.metric("inferwatch_logger_skipped_total", reason="sampling") == 5
        assert lg.store.count() == 0


def test_redaction_happens_before_the_sink(run_logger, iris_url: str) -> None:
    body = {
        "data": {"names": FEATURES, "ndarray": [[5.1, 3.5, 1.4, 0.2]]},
        "meta": {"tags": {"user": "alice"}},
    }
    with run_logger(upstream=iris_url, redact_path=["meta.tags.user"], redact_field=["sepal_length"]) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", json=body)
        assert r.status_code == 200
        rec = lg.wait_record(r.headers["x-request-id"])
    assert "redacted" in rec.flags
    assert "alice" not in rec.request.raw and "5.1" not in rec.request.raw
    assert orjson.loads(rec.request.raw)["data"]["ndarray"][0][1:] == [3.5, 1.4, 0.2]


FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

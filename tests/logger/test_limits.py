"""Hostile and malformed input against the real logger (proxy and CloudEvents receiver): bounded, answered 4xx
where the logger answers, and recorded all the same — the logger never drops an exchange."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inferwatch.stores import RecordQuery
from tests.servers import serving

CE = Path(__file__).parents[1] / "testdata" / "cloudevents"
GOOD = orjson.dumps({"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}})
DEEP = b'{"meta": ' + b"[" * 300 + b"]" * 300 + b', "data": {"ndarray": [[1.0]]}}'


async def _echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/json")


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with serving(Starlette(routes=[Route("/{path:path}", _echo, methods=["POST"])])) as url:
        yield url


def rejected(lg: Any, limit: str) -> float:
    return float(lg.metric("inferwatch_http_rejected_total", limit=limit))


def test_a_gzip_bomb_is_recorded_bounded_and_good_neighbours_are_recorded(run_logger, echo_url: str) -> None:
    bomb = gzip.compress(b"0" * (100 << 20))  # ~100 KB that inflates to 100 MB
    with run_logger(upstream=echo_url) as lg:
        ids = []
        for _ in range(3):
            good = httpx.post(f"{lg.url}/api/v1.0/predictions", content=GOOD)
            bad = httpx.post(
                f"{lg.url}/api/v1.0/predictions", content=bomb, headers={"content-encoding": "gzip"}, timeout=30
            )
            assert good.status_code == bad.status_code == 200 and bad.content == bomb  # the model still gets it
            ids.append((good.headers["x-request-id"], bad.headers["x-request-id"]))
        for good_id, bad_id in ids:
            assert lg.wait_record(good_id).instances  # decoded as usual
            rec = lg.wait_record(bad_id)
            assert len(rec.to_json()) < 2 * len(bomb) + 10_000  # ~the response's base64, not 100 MB
            assert "limit_exceeded" in rec.flags and rec.request is not None
            assert rec.request.raw == "" and rec.request.size == len(bomb)
            assert rec.request.sha256 == hashlib.sha256(bomb).hexdigest()
            assert "--max-decompression-ratio" in (rec.request.parse_error or "")  # 10 MB before 16 MB
        assert rejected(lg, "decompression_ratio") == 3


def test_deep_json_through_the_proxy_is_recorded_raw_and_flagged(run_logger, echo_url: str) -> None:
    with run_logger(upstream=echo_url) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", content=DEEP)
        assert r.status_code == 200 and r.content == DEEP  # the model decides
        rec = lg.wait_record(r.headers["x-request-id"])
    assert rec.request is not None and rec.request.raw == DEEP.decode()
    assert {"limit_exceeded", "parse_error"} <= set(rec.flags)
    assert "--max-json-depth" in (rec.request.parse_error or "")


def test_response_over_max_payload_is_recorded_truncated(run_logger, echo_url: str) -> None:
    big = orjson.dumps({"data": {"ndarray": [[float(i)] * 10 for i in range(500)]}})
    with run_logger(upstream=echo_url, max_payload_bytes=1000) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", content=big)
        assert r.content == big
        rec = lg.wait_record(r.headers["x-request-id"])
    assert rec.response is not None and rec.response.truncated and rec.response.size == len(big)
    assert len(rec.response.raw) == 1000 and "truncated" in rec.flags


@pytest.mark.parametrize("method", [b"HEAD", b"OPTIONS"])
def test_asterisk_targets_are_answered_400_not_502(run_logger, echo_url: str, method: bytes) -> None:
    with run_logger(upstream=echo_url) as lg:
        port = int(lg.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(method + b" * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.settimeout(5)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
    assert answer.split()[1] == b"400"
    if method == b"OPTIONS":
        assert b"paths starting with '/'" in answer


def _structured(data: bytes) -> bytes:
    doc = json.loads((CE / "structured_v2_request.json").read_text())
    body = doc["body"]
    body["data"] = "DATA"
    return orjson.dumps(body).replace(b'"DATA"', data)


def test_a_structured_event_nested_too_deep_is_400_and_still_recorded(run_logger) -> None:
    with run_logger(pairing_ttl=0.3) as lg:
        body = _structured(b'{"inputs": ' + b"[" * 300 + b"]" * 300 + b"}")
        r = httpx.post(lg.url + "/", content=body, headers={"content-type": "application/cloudevents+json"})
        assert r.status_code == 400
        assert r.json()["error"]["details"] == {"limit": "json_depth"}
        assert "--max-json-depth" in r.json()["error"]["message"]
        recs: list[Any] = []
        for _ in range(200):
            recs = lg.store.query(RecordQuery(flag="limit_exceeded", limit=10))
            if recs:
                break
            time.sleep(0.05)
        assert rejected(lg, "json_depth") == 1  # counted once: the refusal, not again by the record builder
    assert len(recs) == 1 and recs[0].tags["refused"] == "json_depth" and recs[0].source == "cloudevents"
    assert recs[0].request is not None and recs[0].request.raw == body.decode()


def test_a_binary_event_with_a_deep_body_is_accepted_and_recorded_flagged(run_logger) -> None:
    doc = json.loads((CE / "seldon_executor_request.json").read_text())
    with run_logger(pairing_ttl=0.3) as lg:
        r = httpx.post(lg.url + "/", content=DEEP, headers=doc["headers"])
        assert r.status_code == 200, r.text
        rec = lg.wait_record(r.json()["id"])
    assert rec.request is not None and rec.request.raw == DEEP.decode() and "limit_exceeded" in rec.flags


def test_a_receiver_body_over_the_limit_is_413_naming_it(run_logger) -> None:
    doc = json.loads((CE / "seldon_executor_request.json").read_text())
    with run_logger(max_body_bytes=10_000) as lg:
        r = httpx.post(lg.url + "/", content=b"[" + b"1," * 10_000 + b"1]", headers=doc["headers"])
        assert r.status_code == 413 and "--max-body-bytes" in r.json()["error"]["message"]
        assert rejected(lg, "body_bytes") == 1


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_sent_too_slowly_through_the_proxy_is_408_not_502(run_logger, echo_url: str, framing: str) -> None:
    if framing == "chunked":
        head, part = b"Transfer-Encoding: chunked\r\n", b"a\r\n0123456789\r\n"
    else:
        head, part = b"Content-Length: 100\r\n", b"0123456789"
    with run_logger(upstream=echo_url, body_timeout=0.5) as lg:
        port = int(lg.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n" + part)
            s.settimeout(5)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert answer.split()[1] == b"408" and b"--body-timeout" in answer
        assert rejected(lg, "read_timeout") == 1
        assert lg.metric("inferwatch_logger_upstream_errors_total", reason="unreachable") == 0

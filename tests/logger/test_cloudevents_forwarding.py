"""The CloudEvents forwarding sink against real receivers: our own CloudEvents logger (which speaks the
Seldon executor's wire format) and the detector server."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from inferwatch.errors import SinkError
from inferwatch.logger.app import create_app
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from inferwatch.sinks import open_sink
from inferwatch.stores import RecordQuery
from inferwatch.stores.sqlite import SQLiteStore
from tests.servers import free_port, serving

SELDON = {"data": {"names": ["a", "b"], "ndarray": [[1.0, 2.0], [3.0, 4.0]]}}


def _receiver(tmp_path: Path) -> tuple[LoggerService, Path]:
    db = tmp_path / "received.db"
    settings = LoggerSettings(sink=[f"sqlite:///{db}"], metrics_port=0, linger_ms=5, spool_dir=tmp_path / "spool")
    return LoggerService(settings), db


def test_forwarded_events_are_paired_by_a_seldon_compatible_receiver(tmp_path: Path, run_logger) -> None:
    receiver, db = _receiver(tmp_path)
    receiver.start()
    try:
        with (
            serving(create_app(receiver)) as rx_url,
            serving(_echo()) as model_url,
            run_logger(
                upstream=model_url, sink=[f"cloudevents+{rx_url}/?send=both"], deployment="iris", namespace="prod"
            ) as lg,
        ):
            r = httpx.post(f"{lg.url}/api/v1.0/predictions", json=SELDON)
            assert r.status_code == 200
            rid = r.headers["x-request-id"]
            deadline = time.monotonic() + 10
            found: list = []
            while not found and time.monotonic() < deadline:
                time.sleep(0.05)
                store = SQLiteStore(db)
                found = store.query(RecordQuery(request_id=rid))
                store.close()
    finally:
        receiver.stop()
    assert found, "the receiver stored nothing"
    rec = found[0]
    assert rec.source == "cloudevents" and rec.flags == []  # both halves arrived and were paired
    assert rec.deployment == "iris" and rec.namespace == "prod" and rec.protocol == "seldon"
    assert rec.instances[1]["request"] == {"a": 3.0, "b": 4.0}


def test_unreachable_endpoint_is_retriable_and_4xx_is_not(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from inferwatch.records import InferenceRecord, PayloadRecord

    rec = InferenceRecord(id="x", received_at=datetime.now(UTC), request=PayloadRecord(size=2, raw="{}"))
    dead = open_sink(f"cloudevents+http://127.0.0.1:{free_port()}/")
    with pytest.raises(SinkError) as e:
        dead.write([rec])
    assert e.value.retriable and not dead.health().ok
    receiver, _ = _receiver(tmp_path)
    with serving(create_app(receiver)) as rx_url:
        wrong_path = open_sink(f"cloudevents+{rx_url}/no/such/path")
        with pytest.raises(SinkError) as e:
            wrong_path.write([rec])
        assert not e.value.retriable and "404" in e.value.message


def test_redacted_bodies_are_forwarded_masked(tmp_path: Path, run_logger) -> None:
    """The sink forwards the record's body: with --redact-field, the masked one."""
    receiver, db = _receiver(tmp_path)
    receiver.start()
    try:
        with (
            serving(create_app(receiver)) as rx_url,
            serving(_echo()) as model_url,
            run_logger(upstream=model_url, sink=[f"cloudevents+{rx_url}/?send=both"], redact_field=["b"]) as lg,
        ):
            r = httpx.post(f"{lg.url}/api/v1.0/predictions", json=SELDON)
            rid = r.headers["x-request-id"]
            deadline = time.monotonic() + 10
            found: list = []
            while not found and time.monotonic() < deadline:
                time.sleep(0.05)
                store = SQLiteStore(db)
                found = store.query(RecordQuery(request_id=rid))
                store.close()
    finally:
        receiver.stop()
    assert found, "the receiver stored nothing"
    assert [i["request"] for i in found[0].instances] == [{"a": 1.0, "b": "[REDACTED]"}, {"a": 3.0, "b": "[REDACTED]"}]
    assert "redacted" not in found[0].flags  # the receiver has no redaction of its own: it got masked bodies


def test_a_body_withheld_by_redaction_is_not_forwarded() -> None:
    """No bytes were kept: posting an empty body would be a lie (and no connection is even made)."""
    from datetime import UTC, datetime

    from inferwatch.records import InferenceRecord, PayloadRecord

    withheld = PayloadRecord(size=40, raw="", redaction="withheld", sha256="0" * 64, parse_error="not JSON")
    rec = InferenceRecord(id="x", received_at=datetime.now(UTC), request=withheld)
    dead = open_sink(f"cloudevents+http://127.0.0.1:{free_port()}/")
    dead.write([rec])
    assert dead.health().ok


def _echo():  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")

    return Starlette(routes=[Route("/{p:path}", echo, methods=["POST"])])


def test_a_refused_record_fails_alone_and_a_shed_body_is_not_forwarded() -> None:
    from datetime import UTC, datetime

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from inferwatch.records import InferenceRecord, PayloadRecord
    from inferwatch.reduction import smaller
    from inferwatch.sinks.failures import RecordsRejected, Refusal

    received: list[str] = []

    async def receive(request: Request) -> Response:
        rid = request.headers["ce-requestid"]
        if rid == "bad":
            return Response(b'{"error": "no"}', status_code=400)
        received.append(rid)
        return Response(b"{}")

    def rec(rid: str) -> InferenceRecord:
        return InferenceRecord(id=rid, received_at=datetime.now(UTC), request=PayloadRecord(size=2, raw="{}"))

    shed = smaller(smaller(rec("shed"))[0])  # type: ignore[index]
    assert shed is not None
    with serving(Starlette(routes=[Route("/", receive, methods=["POST"])])) as url:
        sink = open_sink(f"cloudevents+{url}/")
        with pytest.raises(RecordsRejected) as e:
            sink.write([rec("a"), rec("bad"), shed[0], rec("c")])
    assert [(f.position, f.refusal, f.reason) for f in e.value.failures] == [(1, Refusal.RECORD, "http_400")]
    assert received == ["a", "c"]

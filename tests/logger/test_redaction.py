"""``--redact-field ssn``: the secret never reaches the disk — not the store, not the write-ahead log, not a
sink's spool — for every protocol and for well-formed, truncated and unparsable bodies, while every other
feature of a well-formed body is still in the record.

A table of real payloads (``tests/testdata``) with an ``ssn`` feature added, run through one ``LoggerService``
in ``--durability sync`` writing to a real SQLite store and to a sink that always fails (so its records sit in
its on-disk spool). The sinks are held back until the write-ahead log has been read from disk."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from inferwatch.capture import Body, Exchange
from inferwatch.errors import SinkError
from inferwatch.logger.receiver import create_receiver_app
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from inferwatch.protocols.v2_binary import encode_binary
from inferwatch.records import InferenceRecord
from inferwatch.redact import DEFAULT_MASK
from inferwatch.results import Record
from inferwatch.sinks.base import SinkHealth
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores import RecordQuery
from inferwatch.stores.sqlite import SQLiteStore

DATA = Path(__file__).parents[1] / "testdata"
LIMIT = 4096
"""``--max-payload-bytes`` of the logger under test: a truncated variant pads a body past it."""
TEXT = "SSN-SECRET-7f3a9c"
NUMBER = 918273645
SMALL = 8675309  # exact in float32
MASK = DEFAULT_MASK
VARIANTS = ("well-formed", "truncated", "unparsable")


@dataclass
class Case:
    """One protocol's body with the secret in its ``ssn`` feature (or, where it has no named features, its meta)."""

    name: str
    path: str
    body: dict[str, Any] | bytes
    secrets: list[bytes]
    features: dict[str, Any]
    """Non-secret features of instance 0 that a well-formed record keeps (``{}``: none to check by name)."""
    texts: list[str] = field(default_factory=list)
    """Other non-secret content that must survive (searched in the record's JSON)."""
    content_type: str = "application/json"
    header_length: int | None = None

    def raw(self, variant: str) -> tuple[bytes, int | None]:
        """The body of a variant and its ``Inference-Header-Content-Length``."""
        if isinstance(self.body, bytes):  # V2 binary extension
            assert self.header_length is not None
            if variant == "unparsable":
                return self.body, self.header_length + 3  # the header length points into the binary part
            if variant == "truncated":
                return self.body + b"\0" * LIMIT, self.header_length  # (over-long: also a parse error if kept)
            return self.body, self.header_length
        raw = orjson.dumps(self.body)
        if variant == "truncated":
            raw = orjson.dumps({**self.body, "zz_pad": "x" * LIMIT})  # the secret is in the first LIMIT bytes
            assert len(raw) > LIMIT
        elif variant == "unparsable":
            raw = raw[:-1]
        return raw, None


def _load(rel: str) -> Any:
    return json.loads((DATA / rel).read_text())


def _with_column(names: list[str], rows: list[list[Any]], values: list[Any]) -> tuple[list[str], list[list[Any]]]:
    return [*names, "ssn"], [[*row, v] for row, v in zip(rows, values, strict=True)]


def _seldon_cases() -> Iterator[Case]:
    nd = _load("peers/seldon_ndarray_request.json")["data"]
    names, rows = _with_column(nd["names"], nd["ndarray"], [NUMBER, NUMBER + 1])
    yield Case("seldon-ndarray", "/api/v1.0/predictions", {"data": {"names": names, "ndarray": rows}},
               [b"918273645", b"918273646"], {"sepal_length": 5.1, "petal_width": 0.2, "ssn": MASK})  # fmt: skip

    t = _load("peers/seldon_tensor_request.json")["data"]
    r, c = t["tensor"]["shape"]
    matrix = np.asarray(t["tensor"]["values"]).reshape(r, c).tolist()
    names, rows = _with_column(t["names"], matrix, [NUMBER, NUMBER + 1])
    tensor = {"shape": [r, c + 1], "values": [v for row in rows for v in row]}
    yield Case("seldon-tensor", "/api/v1.0/predictions", {"data": {"names": names, "tensor": tensor}},
               [b"918273645", b"918273646"], {"sepal_width": 3.5, "ssn": MASK})  # fmt: skip

    tf = _load("protocols/seldon__request__tftensor.json")["data"]["tftensor"]  # DT_FLOAT 2x3, tensorContent
    arr = np.frombuffer(base64.b64decode(tf["tensorContent"]), dtype="<f4").reshape(2, 3).copy()
    arr[:, 1] = SMALL
    content = base64.b64encode(arr.astype("<f4").tobytes()).decode()
    tftensor = {**tf, "tensorContent": content}
    yield Case("seldon-tftensor-content", "/api/v1.0/predictions",
               {"data": {"names": ["a", "ssn", "c"], "tftensor": tftensor}},
               [b"8675309", content.encode()], {"a": 1.0, "c": 3.0, "ssn": MASK})  # fmt: skip

    tv = _load("peers/seldon_tftensor_request.json")["data"]["tftensor"]  # DT_DOUBLE 1x4, doubleVal
    tv = {**tv, "tensorShape": {"dim": [{"size": "1"}, {"size": "5"}]}, "doubleVal": [*tv["doubleVal"], NUMBER]}
    yield Case("seldon-tftensor-values", "/api/v1.0/predictions",
               {"data": {"names": ["sl", "sw", "pl", "pw", "ssn"], "tftensor": tv}},
               [b"918273645"], {"sl": 5.1, "pw": 0.2, "ssn": MASK})  # fmt: skip

    jd = _load("peers/seldon_jsondata_request.json")
    jd["jsonData"]["customer"] = {"ssn": TEXT, "city": "Oslo"}
    yield Case("seldon-jsondata", "/api/v1.0/predictions", jd, [TEXT.encode()], {}, ["Oslo", "6.7"])

    # strData and binData carry no names: the secret can only be a named value of their meta
    for kind in ("strdata", "bindata"):
        body = _load(f"peers/seldon_{kind}_request.json")
        body["meta"] = {"tags": {"ssn": TEXT, "team": "fraud"}}
        content = body.get("strData") or body["binData"]
        yield Case(f"seldon-{kind}", "/api/v1.0/predictions", body, [TEXT.encode()], {}, ["fraud", content[:12]])


def _v2_cases() -> Iterator[Case]:
    titanic = _load("protocols/v2__request__titanic_mixed.json")
    titanic["inputs"].append({"name": "ssn", "shape": [2], "datatype": "BYTES", "data": [TEXT, TEXT + "2"]})
    yield Case("v2-bytes", "/v2/models/titanic/infer", titanic, [TEXT.encode()],
               {"Name": "Braund, Mr. Owen Harris", "Fare": 7.25, "ssn": MASK})  # fmt: skip

    multi = _load("peers/mlserver_multi_input_request.json")
    multi["inputs"].append({"name": "ssn", "datatype": "INT64", "shape": [2, 1], "data": [NUMBER, NUMBER + 1]})
    yield Case("v2-int64", "/v2/models/iris/infer", multi, [b"918273645", b"918273646"],
               {"sepal_length": 5.1, "petal_width": 0.2, "ssn": MASK})  # fmt: skip

    header = {
        "inputs": [
            {"name": "ssn", "datatype": "INT64", "shape": [2]},
            {"name": "features", "datatype": "FP32", "shape": [2, 4]},
            {"name": "tag", "datatype": "BYTES", "shape": [2], "data": ["left", "right"]},
        ]
    }
    ssn = np.array([NUMBER, NUMBER + 1], dtype=np.int64)
    features = np.array(_load("peers/seldon_ndarray_request.json")["data"]["ndarray"], dtype=np.float32)
    body, n = encode_binary(header, {"ssn": ssn, "features": features})
    yield Case("v2-binary", "/v2/models/iris/infer", body, [b"918273645", ssn.astype("<i8").tobytes()],
               {"tag": "left", "ssn": MASK}, content_type="application/octet-stream", header_length=n)  # fmt: skip


def _kserve_cases() -> Iterator[Case]:
    rows = _load("protocols/kserve-v1__request__tf_named_rows.json")
    for i, inst in enumerate(rows["instances"]):
        inst["ssn"] = TEXT + str(i)
    yield Case("kserve-instances", "/v1/models/m:predict", rows, [TEXT.encode()], {"tag": "foo", "ssn": MASK})

    cols = _load("protocols/kserve-v1__request__tf_columnar.json")
    cols["inputs"]["ssn"] = [NUMBER, NUMBER + 1]
    yield Case("kserve-inputs", "/v1/models/m:predict", cols, [b"918273645"], {"tag": "foo", "ssn": MASK})


CASES = [*_seldon_cases(), *_v2_cases(), *_kserve_cases()]


def _exchanges() -> Iterator[tuple[Case, str, Exchange]]:
    t0 = time.time()
    for case in CASES:
        for variant in VARIANTS:
            raw, hlen = case.raw(variant)
            ex = Exchange(f"{case.name}--{variant}", t0, responded_at=t0 + 0.01, method="POST", path=case.path)
            ex.request = Body.capture(raw, case.content_type, LIMIT)
            ex.request.header_length = hlen
            ex.status_code = 200
            yield case, variant, ex


# --- CloudEvents through the real receiver ---------------------------------------------------------------

CE_SECRETS = [TEXT.encode(), b"918273645"]


def _cloudevents(client: TestClient) -> dict[str, str]:
    """Posts the events; returns ``{request id: variant}`` of the records they make."""
    kserve_req = _load("cloudevents/kserve_request.json")
    kserve_resp = _load("cloudevents/kserve_response.json")
    made: dict[str, str] = {}
    for variant in VARIANTS:
        rid = f"kserve-ce--{variant}"
        headers = {**kserve_req["headers"], "Ce-Id": rid, "Ce-Metadata": json.dumps({"ssn": [TEXT], "team": ["a"]})}
        body: dict[str, Any] = {"instances": [{"ssn": NUMBER, "age": 41}, {"ssn": NUMBER + 1, "age": 52}]}
        if variant == "truncated":
            body["zz_pad"] = "x" * LIMIT
        raw = orjson.dumps(body)[: -1 if variant == "unparsable" else None]
        assert client.post("/", content=raw, headers=headers).status_code == 200
        resp_headers = {**kserve_resp["headers"], "Ce-Id": rid}
        assert client.post("/", content=orjson.dumps(kserve_resp["body"]), headers=resp_headers).status_code == 200
        made[rid] = variant

    structured = _load("cloudevents/structured_v2_request.json")
    event = structured["body"]
    event["requestid"] = "v2-structured-ce--well-formed"
    event["data"]["inputs"].append({"name": "ssn", "datatype": "BYTES", "shape": [1], "data": [TEXT]})
    assert client.post("/", content=orjson.dumps(event), headers=structured["headers"]).status_code == 200
    made["v2-structured-ce--well-formed"] = "well-formed"

    outlier = _load("cloudevents/detector_outlier_reply.json")
    reply = outlier["body"]
    reply["meta"]["tags"] = {"ssn": TEXT}  # a detector echoing a named value: merged results are masked too
    headers = {**outlier["headers"], "Ce-Requestid": "kserve-ce--well-formed"}
    assert client.post("/", content=orjson.dumps(reply), headers=headers).status_code == 200
    return made


# --- sinks ---------------------------------------------------------------------------------------------


class Gated:
    """A sink that waits for ``gate`` before each write, so the write-ahead log stays on disk until read."""

    def __init__(self, sink: Any, gate: threading.Event, name: str) -> None:
        self.sink, self.gate, self.name = sink, gate, name

    def write(self, records: Sequence[Record]) -> None:
        assert self.gate.wait(60), "the test never opened the gate"
        self.sink.write(records)

    def flush(self) -> None:
        self.sink.flush()

    def close(self) -> None:
        self.sink.close()

    def health(self) -> SinkHealth:
        return SinkHealth(True, self.name)


class Refusing:
    """A sink that is always down: everything it is given ends up in its on-disk spool."""

    name = "refusing"

    def write(self, records: Sequence[Record]) -> None:
        raise SinkError("refusing: down", retriable=True)

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> SinkHealth:
        return SinkHealth(False, "down")


def _disk(root: Path, pattern: str = "*") -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob(pattern)) if p.is_file())


def _leaks(blob: bytes, secrets: Sequence[bytes]) -> list[bytes]:
    return [s for s in secrets if s in blob]


def _wait(cond: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


ALL_SECRETS = sorted({s for c in CASES for s in c.secrets} | set(CE_SECRETS))


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Runs every exchange and event through the logger; yields what was read from disk on the way."""
    tmp = tmp_path_factory.mktemp("redaction")
    db, spool = tmp / "store.db", tmp / "spool"
    settings = LoggerSettings(
        redact_field=["ssn"],
        durability="sync",
        spool_dir=spool,
        max_payload_bytes=LIMIT,
        max_retries=0,
        linger_ms=5,
        shutdown_timeout=2,
        pairing_ttl=30,
        metrics_port=0,
    )
    gate = threading.Event()
    sinks = [Gated(SQLiteSink(db), gate, "sqlite"), Gated(Refusing(), gate, "refusing")]
    service = LoggerService(settings, sinks=sinks)
    service.start()
    seen: dict[str, Any] = {"variants": {}}
    try:
        for case, variant, ex in _exchanges():
            assert service.pipeline.submit_durable(ex, "proxy").result(10), ex.request_id
            seen["variants"][ex.request_id] = (case, variant)
        with TestClient(create_receiver_app(service)) as client:
            seen["ce"] = _cloudevents(client)
        wal = spool / "intake-wal"
        seen["wal"] = _disk(wal, "*.seg")
        gate.set()
        ids = [*seen["variants"], *seen["ce"]]
        _wait(lambda: service.pipeline.backlog()["refusing"][0] >= len(ids), "the refusing sink's spool filled")
        seen["spool"] = _disk(spool / "refusing")
        _wait(lambda: _stored_ids(db) >= set(ids), "every record stored")
    finally:
        gate.set()
        service.stop()
    seen["db"] = _disk(tmp, "store.db*")
    seen["columns"] = _columns(db)
    seen["disk_after"] = _disk(tmp)
    store = SQLiteStore(db)
    try:
        seen["records"] = {r.id: r for r in store.query(RecordQuery(limit=1000))}
        seen["results"] = store.results_for(["kserve-ce--well-formed"])
    finally:
        store.close()
    yield seen


def _stored_ids(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with sqlite3.connect(db) as c:
        return {row[0] for row in c.execute("SELECT id FROM records")}


def _columns(db: Path) -> bytes:
    """Every column of every row of every table, as bytes."""
    out: list[bytes] = []
    with sqlite3.connect(db) as c:
        for (table,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in c.execute(f"SELECT * FROM {table}"):  # names from sqlite_master
                out.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    return b"\n".join(out)


def test_the_write_ahead_log_on_disk_holds_no_secret(logged: dict[str, Any]) -> None:
    wal = logged["wal"]
    assert all(rid.encode() in wal for rid in logged["variants"]), "the log was read while it held every exchange"
    assert b"kserve-ce--well-formed" in wal  # the detector's answer (events that are not halves are logged first)
    assert _leaks(wal, ALL_SECRETS) == []


def test_a_failing_sinks_spool_on_disk_holds_no_secret(logged: dict[str, Any]) -> None:
    spool = logged["spool"]
    assert all(rid.encode() in spool for rid in logged["variants"])
    assert _leaks(spool, ALL_SECRETS) == []


def test_the_store_file_and_every_column_hold_no_secret(logged: dict[str, Any]) -> None:
    assert all(rid.encode() in logged["columns"] for rid in [*logged["variants"], *logged["ce"]])
    assert _leaks(logged["db"], ALL_SECRETS) == []
    assert _leaks(logged["columns"], ALL_SECRETS) == []
    assert _leaks(logged["disk_after"], ALL_SECRETS) == []  # store, spools, whatever else the logger left


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("variant", VARIANTS)
def test_each_protocol_and_variant(logged: dict[str, Any], case: Case, variant: str) -> None:
    rec: InferenceRecord = logged["records"][f"{case.name}--{variant}"]
    doc = rec.to_json()
    assert _leaks(doc, case.secrets) == []
    assert "redacted" in rec.flags and rec.request is not None
    if variant == "well-formed":
        assert rec.request.redaction == "masked" and rec.request.parse_error is None, rec.request.parse_error
        first = rec.instances[0]["request"] if rec.instances else {}
        assert {k: first.get(k) for k in case.features} == case.features
        for text in case.texts:
            assert text.encode() in doc, text
    else:
        assert rec.request.redaction == "withheld" and rec.request.raw == "" and rec.request.sha256
        assert rec.request.size == len(case.raw(variant)[0]) and rec.instances == []
        assert ("truncated" if variant == "truncated" else "parse_error") in rec.flags


def test_cloudevents_halves_metadata_and_merged_results(logged: dict[str, Any]) -> None:
    records = logged["records"]
    good = records["kserve-ce--well-formed"]
    assert good.tags["metadata"] == {"ssn": [MASK], "team": ["a"]}
    assert [i["request"] for i in good.instances] == [{"ssn": MASK, "age": 41}, {"ssn": MASK, "age": 52}]
    assert good.response is not None and orjson.loads(good.response.raw) == {"predictions": [1, 1]}
    for variant in ("truncated", "unparsable"):
        bad = records[f"kserve-ce--{variant}"]
        assert bad.request is not None and bad.request.redaction == "withheld" and bad.response is not None
        assert bad.response.redaction is None and bad.response.raw  # the response had nothing to mask
    v2 = records["v2-structured-ce--well-formed"]
    assert v2.instances[0]["request"] == {"age": 39, "workclass": "State-gov", "ssn": MASK}
    results = logged["results"]
    assert results and all(r.body["meta"]["tags"] == {"ssn": MASK} for r in results)
    assert [r.body["data"]["is_outlier"] for r in results] == [0, 1]


@pytest.mark.parametrize("unparsed", ["drop", "keep"])
def test_redact_unparsed_decides_what_the_logger_keeps_of_an_unparsable_body(tmp_path: Path, unparsed: str) -> None:
    settings = LoggerSettings(redact_field=["ssn"], redact_unparsed=unparsed, metrics_port=0, spool_dir=tmp_path)
    service = LoggerService(settings, sinks=[])
    raw = b"ssn=" + TEXT.encode()
    ex = Exchange("r", time.time(), path="/v2/models/m/infer", request=Body.capture(raw, "text/plain", LIMIT))
    rec = service.build(ex)
    assert isinstance(rec, InferenceRecord) and rec.request is not None
    if unparsed == "drop":
        assert rec.request.raw == "" and rec.flags == ["redacted", "parse_error"]
    else:
        assert rec.request.raw == raw.decode() and rec.flags == ["unredacted", "parse_error"]

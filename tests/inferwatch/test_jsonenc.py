"""The one JSON encoding: what it writes, and that every format it now writes (records, spool frames, the WAL,
search documents) keeps the bytes the earlier per-module encoders wrote, for every captured peer exchange."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from inferwatch import jsonenc
from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.delivery import backlog, exchange_codec
from inferwatch.redact import Redactor
from inferwatch.results import ResultRecord
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.search import SearchSink
from inferwatch.sinks.search_docs import documents
from tests.inferwatch.sinks.sink_records import PEERS, golden

NAMES = [e["name"] for e in json.loads((PEERS / "index.json").read_text())]
BINARY = Path(__file__).resolve().parents[1] / "testdata" / "protocols" / "v2_binary"
T = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_what_it_writes() -> None:
    value = {
        "t": T,
        "raw": b"s\xc3\xa9pale",
        "x": np.array([[1.5, 2.0]], dtype=np.float32),
        "n": np.int64(3),
        1: "non-string key",
    }
    assert orjson.loads(jsonenc.dumps(value)) == {
        "t": "2026-11-25T10:00:00.000000Z",
        "raw": "c8OpcGFsZQ==",
        "x": [[1.5, 2.0]],
        "n": 3,
        "1": "non-string key",
    }


def test_anything_else_is_refused_not_written_as_its_repr() -> None:
    with pytest.raises(TypeError, match="set is not JSON serialisable"):
        jsonenc.default({"a"})
    with pytest.raises(TypeError, match="not JSON serializable: set"):  # orjson's wording of the same refusal
        jsonenc.dumps({"tags": {"a"}})


def _old_record_json(record: Any) -> bytes:
    """``InferenceRecord.to_json`` before ``jsonenc``: datetimes through its own ``json_default``."""

    def default(value: Any) -> str:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        raise TypeError

    return orjson.dumps(record, default=default, option=orjson.OPT_PASSTHROUGH_DATETIME)


@pytest.mark.parametrize("name", NAMES)
def test_records_and_spool_frames_keep_their_bytes(name: str) -> None:
    record = golden(name, tags={"ce_type": "io.seldon.serving.inference.request", "metadata": {"a": [1, 2]}})
    assert record.to_json() == _old_record_json(record)
    old_frame = orjson.dumps(record.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str)
    assert backlog.encode_record(record) == old_frame
    assert backlog.decode_record(old_frame) == record


def test_result_frames_keep_their_bytes() -> None:
    result = ResultRecord("r-1/outlier", "outlier", {"data": {"is_outlier": [0, 1]}}, "r-1", created_at=T)
    old = orjson.dumps(result.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str)
    assert backlog.encode_record(result) == old


@pytest.mark.parametrize("name", NAMES[:3])
def test_wal_frames_keep_their_bytes(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = (PEERS / f"{name}_request.json").read_bytes()
    ex = Exchange(
        "wal-1", 1_800_000_000.25, None, Body(raw, "application/json", len(raw)), tags={"metadata": {"k": "v"}}
    )
    new = exchange_codec.encode_exchange(ex)
    monkeypatch.setattr(
        exchange_codec.jsonenc, "dumps", lambda o: orjson.dumps(o, option=orjson.OPT_NON_STR_KEYS, default=str)
    )
    assert exchange_codec.encode_exchange(ex) == new
    assert exchange_codec.decode_exchange(new) == ex


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_search_documents_keep_their_bytes(engine: str) -> None:
    """The clients' serializers now write ``jsonenc``; the documents are what the stock orjson ones wrote."""
    sink = SearchSink.from_uri(SinkURI.parse(f"{engine}://127.0.0.1:1"))  # no connection is made
    try:
        docs = [doc for name in NAMES for _, doc in documents(golden(name), "all")]
        if engine == "elasticsearch":
            from elasticsearch.serializer import OrjsonSerializer

            ours = sink.client.transport.serializers.get_serializer("application/json")
            assert all(ours.dumps(d) == OrjsonSerializer().dumps(d) for d in docs)
        else:
            from opensearchpy.serializer import JSONSerializer

            ours, stock = sink.client.transport.serializer, JSONSerializer()
            assert all(ours.dumps(d) == orjson.dumps(d, default=stock.default).decode() for d in docs)
    finally:
        sink.close()


def test_a_redacted_binary_v2_body_keeps_its_bytes_tensor_as_base64() -> None:
    """Triton's client body (``tests/testdata/protocols/v2_binary``): BYTES elements are raw bytes once decoded."""
    raw = (BINARY / "request_mixed.bin").read_bytes()
    n = json.loads((BINARY / "request_mixed.json").read_text())["inference_header_content_length"]
    ex = Exchange("bin-1", 1_800_000_000.0, path="/v2/models/iris/infer")
    ex.request = Body(raw, "application/octet-stream", len(raw), header_length=n)
    record = RecordBuilder(Redactor(fields=["scale"])).build(ex)
    assert record.request is not None and record.request.raw_encoding == "utf-8"
    inputs = {i["name"]: i["data"] for i in orjson.loads(record.request.raw)["inputs"]}
    assert inputs["words"] == ["cGV0YWw=", "", "c8OpcGFsZQ=="] and inputs["scale"] == ["[REDACTED]"]
    decoded = {t["name"]: t for t in record.request.decoded["tensors"]}  # type: ignore[index]
    assert decoded["scale"]["datatype"] == "BYTES" and len(decoded) == 5  # masked, and nothing else lost

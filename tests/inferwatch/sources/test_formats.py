"""Decoding Kafka messages of the three producers (pure logic: messages built in memory from real payloads) and
pairing Seldon's halves into records, with the offsets a consumer may commit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from inferwatch.pairing import PairingMetrics
from inferwatch.records import Flag, InferenceRecord
from inferwatch.sources.decoder import MessageDecoder
from inferwatch.sources.formats import INFERWATCH, SELDON_V1, SELDON_V2, Undecodable, decode, detect
from inferwatch.sources.messages import Message
from tests.consumers.kafka_data import logger_records, seldon_v1_half

V2_DATA = Path(__file__).resolve().parents[2] / "testdata" / "protocols" / "seldon_v2"
TOPIC_IN, TOPIC_OUT = "seldon.prod.model.iris.inputs", "seldon.prod.model.iris.outputs"
RID = "5c9a2d6e-seldon-v2-0001"


def _decoder(**kw: object) -> MessageDecoder:
    return MessageDecoder(metrics=PairingMetrics(CollectorRegistry(), "t"), **kw)  # type: ignore[arg-type]


def _msg(
    topic: str, value: bytes | None, headers: list[tuple[str, bytes]], offset: int = 0, partition: int = 0
) -> Message:
    return Message(topic, partition, offset, value, b"composite:key:ignored", tuple(headers), 1_765_000_000.0)


def _v2(name: str) -> bytes:
    return (V2_DATA / name).read_bytes()


def test_the_loggers_records_are_read_back_as_they_were_written() -> None:
    record = logger_records(1)[0]
    with_header = _msg("t", record.to_json(), [("type", b"io.inferwatch.inference.record")])
    without = _msg("t", record.to_json(), [])
    for m in (with_header, without):
        assert detect(m) == INFERWATCH
        (back,) = decode(m).records
        assert isinstance(back, InferenceRecord) and back.to_dict() == record.to_dict()


@pytest.mark.parametrize(
    ("framing", "request_file"), [("plain", "request_raw.bin"), ("schema-registry", "request_framed.bin")]
)
def test_seldon_v2_protobuf_inputs_and_outputs_pair_into_one_record(framing: str, request_file: str) -> None:
    decoder = _decoder()
    headers = [("x-request-id", RID.encode()), ("pipeline", b"iris-pipeline")]
    request = _msg(TOPIC_IN, _v2(request_file), headers, offset=4)
    response = _msg(TOPIC_OUT, _v2("response_raw.bin"), headers, offset=9, partition=1)
    assert detect(request) == SELDON_V2
    assert decoder.feed(request) == []
    assert decoder.holding() == {(TOPIC_IN, 0): 4}, "the request waits: its partition may not be committed past 4"
    (record,) = decoder.feed(response)
    assert decoder.holding() == {}
    assert isinstance(record, InferenceRecord)
    assert record.id == f"{RID}@iris" and record.tags["request_id"] == RID  # a model step of the pipeline
    assert (record.model_name, record.namespace, record.deployment, record.protocol, record.source) == (
        "iris",
        "prod",
        "iris-pipeline",
        "v2",
        "kafka",
    )
    assert not record.flags, record.flags
    assert record.instances == [  # every tensor of both sides decoded (raw contents included), per instance
        {
            "request": {"predict_0": 5.1, "predict_1": 3.5, "predict_2": 1.4, "predict_3": 0.2, "note": "setosa?"},
            "response": {"predict": 0, "predict_proba_0": 0.97, "predict_proba_1": 0.03, "predict_proba_2": 0.0},
        },
        {
            "request": {"predict_0": 6.7, "predict_1": 3.0, "predict_2": 5.2, "predict_3": 2.3, "note": "virginica?"},
            "response": {"predict": 2, "predict_proba_0": 0.0, "predict_proba_1": 0.1, "predict_proba_2": 0.9},
        },
    ]


def test_seldon_v2_json_variant_and_pipeline_topics() -> None:
    decoder = _decoder()
    request_json = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]})
    headers = [("x-request-id", b"p-1"), ("seldon-infer-type", b"json/inferModelRequest")]
    assert decoder.feed(_msg("seldon.prod.pipeline.flow.inputs", request_json.encode(), headers)) == []
    out_headers = [("x-request-id", b"p-1"), ("seldon-infer-type", b"json/inferModelResponse")]
    (record,) = decoder.feed(_msg("seldon.prod.pipeline.flow.outputs", _v2("response.json"), out_headers, 1))
    assert isinstance(record, InferenceRecord)
    assert record.id == "p-1" and record.deployment == "flow"  # the pipeline's own exchange keeps the request id
    assert record.instances and record.response is not None and record.response.decoded is not None


def test_seldon_v2_errors_topic_is_an_upstream_error() -> None:
    headers = [("x-request-id", b"e-1"), ("seldon-pipeline-errors", b"iris")]
    (record,) = _decoder().feed(_msg("seldon.prod.errors.errors", b"model iris failed: OOM", headers))
    assert isinstance(record, InferenceRecord)
    assert record.id == "e-1@iris-error" and record.tags["request_id"] == "e-1"
    assert record.error == "model iris failed: OOM" and record.has(Flag.UPSTREAM_ERROR)


@pytest.mark.parametrize(
    ("topic", "value", "headers", "reason"),
    [
        (TOPIC_IN, b"\x0a\xff\xff\xff\xff\x0f", [("x-request-id", b"r")], "bad_protobuf"),
        (TOPIC_IN, _v2("request_raw.bin")[:-7], [("x-request-id", b"r")], "bad_protobuf"),
        (TOPIC_IN, _v2("request_raw.bin"), [], "no_request_id"),
        (TOPIC_IN, b"{oops", [("x-request-id", b"r"), ("seldon-infer-type", b"json/inferModelRequest")], "not_json"),
        ("t", b"{not json", [("type", b"io.inferwatch.inference.record")], "not_json"),
        (
            "t",
            b'{"received_at": "2026-01-01T00:00:00Z"}',
            [("type", b"io.inferwatch.inference.record")],
            "no_request_id",
        ),
        ("t", b"\x00binary", [], "unknown_format"),
        ("t", b"[]", [("type", b"io.inferwatch.inference.record")], "bad_record"),
    ],
)
def test_poison_messages_say_why(topic: str, value: bytes, headers: list[tuple[str, bytes]], reason: str) -> None:
    decoder = _decoder()
    with pytest.raises(Undecodable) as e:
        decoder.feed(_msg(topic, value, headers))
    assert e.value.reason == reason, e.value.message
    assert decoder.holding() == {} and len(decoder) == 0


def test_seldon_v1_halves_in_any_order_pair_and_request_only_becomes_partial() -> None:
    decoder = _decoder(ttl=0.2)
    req_h, req_v = seldon_v1_half("request", "v1-a")
    resp_h, resp_v = seldon_v1_half("response", "v1-a")
    assert detect(_msg("logs", req_v, req_h)) == SELDON_V1
    assert decoder.feed(_msg("logs", resp_v, resp_h, offset=3, partition=2)) == []  # response first
    (paired,) = decoder.feed(_msg("logs", req_v, req_h, offset=7, partition=0))
    assert isinstance(paired, InferenceRecord) and paired.id == "v1-a" and not paired.has(Flag.PARTIAL)
    assert paired.request is not None and paired.response is not None and len(paired.instances) == 2

    lonely_h, lonely_v = seldon_v1_half("request", "v1-b")
    assert decoder.feed(_msg("logs", lonely_v, lonely_h, offset=8)) == []
    assert decoder.holding() == {("logs", 0): 8}
    time.sleep(0.3)
    (partial,) = decoder.expire()
    assert isinstance(partial, InferenceRecord) and partial.id == "v1-b" and partial.has(Flag.PARTIAL)
    assert partial.response is None and decoder.holding() == {}


def test_without_pairing_a_request_half_is_a_record_at_once_and_a_response_half_nothing() -> None:
    decoder = _decoder(pair=False)
    req_h, req_v = seldon_v1_half("request", "d-1")
    resp_h, resp_v = seldon_v1_half("response", "d-1")
    (record,) = decoder.feed(_msg("logs", req_v, req_h))
    assert isinstance(record, InferenceRecord) and len(record.instances) == 2
    assert decoder.feed(_msg("logs", resp_v, resp_h)) == [] and decoder.holding() == {}


def test_released_partitions_forget_their_halves() -> None:
    decoder = _decoder()
    for p in range(3):
        h, v = seldon_v1_half("request", f"r{p}")
        decoder.feed(_msg("logs", v, h, offset=10 + p, partition=p))
    assert decoder.release([("logs", 1)]) == 1
    assert decoder.holding() == {("logs", 0): 10, ("logs", 2): 12}

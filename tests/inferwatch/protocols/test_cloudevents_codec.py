"""CloudEvents over HTTP and the inference events of Seldon's executor and KServe's logger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from inferwatch.errors import CodecError
from inferwatch.protocols import decode_body
from inferwatch.protocols.cloudevents import (
    CloudEvent,
    EventType,
    inference_info,
    parse_http,
    to_binary_http,
    to_structured_http,
)

GOLDEN = Path(__file__).resolve().parents[2] / "testdata" / "protocols"


def golden(name: str) -> tuple[dict[str, str], bytes]:
    doc: dict[str, Any] = orjson.loads((GOLDEN / f"cloudevents__{name}.json").read_bytes())
    return doc["headers"], doc["body"].encode()


def test_seldon_executor_binary_event() -> None:
    headers, body = golden("seldon_executor_request")
    event = parse_http(headers, body)
    assert event.type == EventType.SELDON_REQUEST and event.data == body
    assert event.datacontenttype == "application/json"
    info = inference_info(event)
    assert info.kind == "request" and info.source_format == "seldon"
    assert info.request_id == "c6c6ea5d-83e0-4c33-9e23-3a2d37e6e0a9"  # ce-requestid, not ce-id
    assert (info.model_id, info.deployment, info.namespace, info.endpoint) == (
        "classifier",
        "iris",
        "seldon",
        "default",
    )
    assert info.protocol == "seldon"
    d = decode_body(event.data, kind=info.kind, protocol=info.protocol)
    assert d.payload is not None and d.payload.tensors[0].shape == [1, 4]


def test_kserve_logger_binary_event() -> None:
    headers, body = golden("kserve_logger_response")
    info = inference_info(parse_http(headers, body))
    assert info.kind == "response" and info.source_format == "kserve"
    assert info.request_id == "0c0f9d5e-0a1b-4c2d-8e3f-4a5b6c7d8e9f"
    assert (info.deployment, info.component, info.endpoint) == ("sklearn-iris", "predictor", None)
    assert info.metadata["X-Tenant"] == ["team-a"]
    assert info.metadata["extensions"] == {"recordedtime": "2024-03-01T10:00:00.1Z"}
    assert info.model_id is None and info.protocol is None


def test_structured_event() -> None:
    headers, body = golden("structured_v2_request")
    event = parse_http(headers, body)
    assert event.id == "req-1" and event.extensions == {"requestid": "req-1", "protocol": "v2"}
    info = inference_info(event)
    assert info.protocol == "v2"
    d = decode_body(event.data, kind="request", protocol=info.protocol)
    assert d.payload is not None and d.payload.tensors[0].nested() == [[5.1, 3.5, 1.4, 0.2]]


def test_executor_protocol_names_are_normalised() -> None:
    for raw, expected in (
        ("tensorflow", "kserve-v1"),
        ("kfserving", "v2"),
        ("v2", "v2"),
        ("custom", "custom"),
    ):
        ev = CloudEvent(id="1", source="s", type=EventType.SELDON_RESPONSE, extensions={"protocol": raw})
        assert inference_info(ev).protocol == expected


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"ce-id": "1", "ce-source": "s", "ce-type": "t"}, "lacks ce-specversion"),
        ({"Ce-Specversion": "1.0", "Ce-Type": "t"}, "lacks ce-id, ce-source"),
        ({"ce-id": "1", "ce-source": "s", "ce-type": "t", "ce-specversion": "2.0"}, "specversion '2.0'"),
        ({"content-type": "application/json"}, "no ce-* headers"),
        ({"content-type": "application/cloudevents-batch+json"}, "batched"),
    ],
)
def test_binary_mode_errors(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(CodecError) as e:
        parse_http(headers, b"{}")
    assert reason in e.value.message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b'{"specversion": "1.0", "id": "1", "type": "t"}', "lacks source"),
        (
            b'{"specversion": "1.0", "id": "1", "type": "t", "source": "s", "data_base64": "%%"}',
            "data_base64",
        ),
    ],
)
def test_structured_mode_errors(body: bytes, reason: str) -> None:
    with pytest.raises(CodecError) as e:
        parse_http({"Content-Type": "application/cloudevents+json"}, body)
    assert reason in e.value.message


def test_unknown_event_type() -> None:
    with pytest.raises(CodecError, match=r"unknown CloudEvent type 'com\.example\.x'"):
        inference_info(CloudEvent(id="1", source="s", type="com.example.x"))


@pytest.mark.parametrize(
    "event",
    [
        CloudEvent(
            id="a b",
            source="/x",
            type=EventType.KSERVE_REQUEST,
            datacontenttype="application/json",
            time="2024-01-01T00:00:00Z",
            extensions={"metadata": '{"H": ["v 1", "%"]}', "namespace": "ns"},
            data=b'{"instances":[[1,2]]}',
        ),
        CloudEvent(
            id="1",
            source="s",
            type=EventType.SELDON_RESPONSE,
            datacontenttype="application/octet-stream",
            subject="sub",
            data=b"\x00\xffbinary",
        ),
        CloudEvent(id="é", source="s", type=EventType.SELDON_DRIFT, datacontenttype="text/plain", data=b"hi"),
    ],
)
def test_round_trips(event: CloudEvent) -> None:
    headers, body = to_binary_http(event)
    assert all(v.isascii() and " " not in v for k, v in headers.items() if k.startswith("ce-"))
    assert parse_http(headers, body) == event
    headers, body = to_structured_http(event)
    assert parse_http(headers, body) == event
    doc = orjson.loads(body)
    assert ("data" in doc) == (event.datacontenttype == "application/json")

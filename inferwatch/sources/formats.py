"""What a Kafka message holds, decided per message, and the one decoding path every consumer shares.

Three producers write inference data to Kafka, and all three are read here (``decode``):

- ``inferwatch``: the logger's own ``kafka://`` sink — one JSON ``InferenceRecord`` per message (request and
  response already paired), or a detector/explainer ``ResultRecord``; header ``type`` is
  ``io.inferwatch.inference.record`` / ``io.inferwatch.result`` (messages without it are recognised by shape).
- ``seldon-v1``: Seldon Core v1's executor logging to Kafka (``LOGGER_KAFKA_BROKER``): the raw request or
  response payload as the value, and headers ``type`` (``io.seldon.serving.inference.request|response``),
  ``requestid``, ``modelid``, ``inferenceservicename``, ``namespace``, ``endpoint``, ``protocol``,
  ``content-type``. The executor sets no key, so the halves of one exchange may land on different partitions.
- ``seldon-v2``: Seldon Core v2's dataflow topics ``<prefix>.<namespace>.model.<model>.inputs|outputs`` and
  ``<prefix>.<namespace>.pipeline.<pipeline>.inputs|outputs``: Open Inference Protocol protobuf
  ``ModelInferRequest`` (inputs) / ``ModelInferResponse`` (outputs), or V2 JSON when header
  ``seldon-infer-type`` says ``json/…``; Confluent schema-registry framing is stripped. The request id is the
  ``x-request-id`` header (the key's format changed across Seldon versions and is not read). The errors topic
  ``<prefix>.<namespace>.errors.errors`` holds a text error; header ``seldon-pipeline-errors`` names the model.

Seldon's halves are returned as ``Half``s, to be paired (``inferwatch.sources.decoder``); the logger's records
and Seldon's errors as records. A message that cannot be read raises ``Undecodable`` with a dead-letter
``reason`` (``not_json``, ``bad_protobuf``, ``no_request_id``, ``unknown_format``, ``bad_record``).

Record ids are stable across redelivery, so an indexer writing a message twice writes the same document: the
logger's record keeps its id; a Seldon v1 exchange is its request id; a Seldon v2 pipeline exchange is its
request id and a model step of that pipeline ``<request id>@<model>`` (tag ``request_id`` = the request id).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from inferwatch.capture import Body, Exchange
from inferwatch.errors import CodecError
from inferwatch.pairing import Half
from inferwatch.protocols import headers as h
from inferwatch.protocols.aliases import V2, normalize_protocol
from inferwatch.records import EVENT_MARK, NODE_MARK, REQUEST_ID_TAG
from inferwatch.results import KAFKA_RESULT_TYPE, Record, decode_record
from inferwatch.sources.messages import Message

AUTO: Final = "auto"
INFERWATCH: Final = "inferwatch"
SELDON_V1: Final = "seldon-v1"
SELDON_V2: Final = "seldon-v2"
FORMATS = (AUTO, INFERWATCH, SELDON_V1, SELDON_V2)
"""``--format`` choices: ``auto`` decides per message."""

SELDON_V1_TYPES = {
    "io.seldon.serving.inference.request": "request",
    "io.seldon.serving.inference.response": "response",
    "io.seldon.serving.inference.feedback": "feedback",
}
"""The executor's ``type`` header → the half (or event) it carries."""
SELDON_REQUEST_ID = "x-request-id"
SELDON_INFER_TYPE = "seldon-infer-type"
SELDON_ERROR_MODEL = "seldon-pipeline-errors"
SELDON_PIPELINE = "pipeline"
_V2_TOPIC = re.compile(
    r"^(?P<prefix>.+)\.(?P<ns>[^.]+)\.(?P<kind>model|pipeline)\.(?P<name>[^.]+)\.(?P<dir>inputs|outputs)$"
)
_V2_ERRORS = re.compile(r"^(?P<prefix>.+)\.(?P<ns>[^.]+)\.errors\.errors$")
SOURCE = "kafka"
"""``InferenceRecord.source`` of what the consumers build from Seldon's messages."""
FORMAT_TAG = "event_format"


class Undecodable(Exception):
    """A message no format can read: ``reason`` labels the dead letter, ``message`` says what is wrong."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Decoded:
    """What one message holds: finished ``records``, one ``half`` of an exchange to be paired, or an ``exchange``
    to record on its own (a feedback event, a pipeline error)."""

    format: str
    records: list[Record] = field(default_factory=list)
    half: Half | None = None
    exchange: Exchange | None = None


def detect(message: Message) -> str:
    """The format of ``message`` (module doc): by its ``type`` header, then its topic's name, then its shape."""
    kind = message.header(h.KAFKA_TYPE)
    if kind in (h.KAFKA_RECORD_TYPE, KAFKA_RESULT_TYPE):
        return INFERWATCH
    if kind in SELDON_V1_TYPES:
        return SELDON_V1
    if message.header(SELDON_INFER_TYPE) or _V2_TOPIC.match(message.topic) or _V2_ERRORS.match(message.topic):
        return SELDON_V2
    value = message.value or b""
    if value[:1] == b"{" and b'"received_at"' in value:
        return INFERWATCH
    raise Undecodable(
        "unknown_format",
        f"{message.position}: no format recognised (no inferwatch or Seldon 'type' header, not a Seldon v2 topic, "
        "not an inferwatch record)",
    )


def decode(message: Message, fmt: str = AUTO, max_payload: int = 1_048_576) -> Decoded:
    """Decode ``message`` as ``fmt`` (``auto``: ``detect``). Bodies over ``max_payload`` bytes are kept truncated,
    as the logger keeps them. ``Undecodable`` when it cannot be read."""
    chosen = detect(message) if fmt == AUTO else fmt
    if chosen == INFERWATCH:
        return Decoded(INFERWATCH, records=[_inferwatch(message)])
    if chosen == SELDON_V1:
        return _seldon_v1(message, max_payload)
    if chosen == SELDON_V2:
        return _seldon_v2(message, max_payload)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _json(message: Message, what: str) -> Any:
    try:
        return orjson.loads(message.value or b"")
    except orjson.JSONDecodeError as e:
        raise Undecodable("not_json", f"{message.position}: {what} is not JSON: {e}") from e


def _inferwatch(message: Message) -> Record:
    data = _json(message, "an inferwatch record")
    if not isinstance(data, dict):
        raise Undecodable("bad_record", f"{message.position}: an inferwatch record is a JSON object, not {data!r:.60}")
    if not data.get("id"):
        raise Undecodable("no_request_id", f"{message.position}: the record has no id")
    try:
        return decode_record(data)
    except (KeyError, TypeError, ValueError) as e:
        raise Undecodable("bad_record", f"{message.position}: not an inferwatch record: {type(e).__name__}: {e}") from e


def _request_id(message: Message, header: str) -> str:
    rid = (message.header(header) or "").strip()
    if not rid:
        raise Undecodable("no_request_id", f"{message.position}: no request id (header {header!r})")
    return rid


def _time(message: Message, arrived: float) -> float:
    return message.timestamp if message.timestamp is not None else arrived


def _seldon_v1(message: Message, max_payload: int) -> Decoded:
    kind = SELDON_V1_TYPES.get(message.header(h.KAFKA_TYPE) or "")
    if kind is None:
        known = ", ".join(SELDON_V1_TYPES)
        why = f"{message.position}: type header {message.header(h.KAFKA_TYPE)!r} is not one of Seldon's: {known}"
        raise Undecodable("unknown_format", why)
    rid = _request_id(message, h.EXT_REQUEST_ID)
    protocol = message.header(h.EXT_PROTOCOL)
    ex = Exchange(
        request_id=rid,
        received_at=0.0,
        source=SOURCE,
        protocol=(normalize_protocol(protocol) or protocol.lower()) if protocol else None,
        model_name=message.header(h.EXT_MODEL_ID) or None,
        deployment=message.header(h.EXT_INFERENCE_SERVICE_NAME) or None,
        namespace=message.header(h.EXT_NAMESPACE) or None,
        endpoint=message.header(h.EXT_ENDPOINT) or None,
        tags={FORMAT_TAG: SELDON_V1},
    )
    body = Body.capture(message.value or b"", message.header(h.KAFKA_CONTENT_TYPE), max_payload)
    return _half_or_event(message, kind, body, ex)


def _half_or_event(message: Message, kind: str, body: Body, ex: Exchange) -> Decoded:
    arrived = time.time()
    fmt = str(ex.tags[FORMAT_TAG])
    if kind in ("request", "response"):
        return Decoded(fmt, half=Half(kind, body, arrived, ex, at=_time(message, arrived)))
    ex.tags[REQUEST_ID_TAG] = ex.request_id
    ex.tags["kind"] = kind
    ex.request_id = f"{ex.request_id}{EVENT_MARK}{kind}"
    ex.received_at = _time(message, arrived)
    ex.request = body
    return Decoded(fmt, exchange=ex)


def _seldon_v2(message: Message, max_payload: int) -> Decoded:
    errors = _V2_ERRORS.match(message.topic)
    if errors:
        return _seldon_v2_error(message, errors.group("ns"))
    topic = _V2_TOPIC.match(message.topic)
    infer_type = (message.header(SELDON_INFER_TYPE) or "").lower()
    if topic is None:
        raise Undecodable(
            "unknown_format",
            f"{message.position}: not a Seldon v2 topic (<prefix>.<namespace>.model|pipeline.<name>.inputs|outputs)",
        )
    kind = "request" if topic.group("dir") == "inputs" else "response"
    rid = _request_id(message, SELDON_REQUEST_ID)
    document = _v2_document(message, kind, infer_type)
    name, is_model = topic.group("name"), topic.group("kind") == "model"
    ex = Exchange(
        request_id=f"{rid}{NODE_MARK}{name}" if is_model else rid,
        received_at=0.0,
        source=SOURCE,
        protocol=V2,
        model_name=name,
        deployment=message.header(SELDON_PIPELINE) or (None if is_model else name),
        namespace=topic.group("ns"),
        tags={FORMAT_TAG: SELDON_V2, "seldon_topic": topic.group("kind")},
    )
    if is_model:
        ex.tags[REQUEST_ID_TAG] = rid
    raw = orjson.dumps(document)
    body = Body.capture(raw, h.JSON_CONTENT_TYPE, max_payload)
    return _half_or_event(message, kind, body, ex)


def _v2_document(message: Message, kind: str, infer_type: str) -> dict[str, Any]:
    """The V2 JSON document of a dataflow message (protobuf or JSON, schema-registry framing stripped)."""
    from inferwatch.protocols.v2_proto import request_to_json, response_to_json, strip_framing

    value = strip_framing(message.value or b"")
    if infer_type.startswith("json/") or (not infer_type and value[:1] == b"{"):
        data = _json(Message(message.topic, message.partition, message.offset, value), "a V2 JSON body")
        if not isinstance(data, dict):
            raise Undecodable("not_json", f"{message.position}: a V2 JSON body is an object, not {data!r:.60}")
        return data
    if "response" in infer_type or (not infer_type and kind == "response"):
        convert = response_to_json
    else:
        convert = request_to_json
    try:
        return convert(value)
    except CodecError as e:
        raise Undecodable("bad_protobuf", f"{message.position}: {e.message}") from e


def _seldon_v2_error(message: Message, namespace: str) -> Decoded:
    rid = _request_id(message, SELDON_REQUEST_ID)
    model = message.header(SELDON_ERROR_MODEL) or None
    text = (message.value or b"").decode("utf-8", "replace").strip() or "(empty error message)"
    base = f"{rid}{NODE_MARK}{model}" if model else rid
    ex = Exchange(
        request_id=f"{base}{EVENT_MARK}error",
        received_at=_time(message, time.time()),
        source=SOURCE,
        protocol=V2,
        model_name=model,
        deployment=message.header(SELDON_PIPELINE) or None,
        namespace=namespace,
        error=text,
        tags={FORMAT_TAG: SELDON_V2, REQUEST_ID_TAG: rid, "kind": "error"},
    )
    return Decoded(SELDON_V2, exchange=ex)

"""JSON Schemas (OpenAPI 3.1) of the bodies inferwatch's services accept and answer, declared once.

Routes read raw bytes and decode them with the codecs of this package, so these schemas only *describe* the
wire formats (``openapi_extra={"requestBody": request_body(...)}``); they never parse a request. They follow:

- Seldon Core v1 ``SeldonMessage`` and ``Feedback`` (``prediction.proto``, as the seldon-core Python wrapper
  serves them as JSON): one of ``data`` (``names`` + ``ndarray`` / ``tensor`` / ``tftensor``), ``strData``,
  ``jsonData`` or ``binData``, plus ``meta`` and ``status``;
- the Open Inference Protocol (V2) REST API (KServe's ``rest_predict_v2.yaml``): inference request and response,
  server and model metadata;
- KServe v1 / TF-Serving ``:predict`` and ``:explain`` bodies (``instances`` rows or ``inputs`` columns);
- CloudEvents 1.0 structured mode (``application/cloudevents+json``) and the ``ce-*`` headers of binary mode;
- inferwatch's own error body (``InferwatchError.to_dict``).
"""

from __future__ import annotations

from typing import Any

from inferwatch.protocols import headers
from inferwatch.protocols.aliases import ALIASES, PROTOCOLS
from inferwatch.protocols.cloudevents import EVENT_KINDS, SPEC_VERSIONS
from inferwatch.protocols.datatypes import DATATYPES

Schema = dict[str, Any]

ANY_JSON: Schema = {"description": "any JSON value"}
PARAMETERS: Schema = {
    "type": "object",
    "description": "V2 parameters: values are strings, numbers or booleans in the spec; MLServer also nests "
    "objects (e.g. explain_parameters)",
}
TENSOR_DATA: Schema = {
    "type": "array",
    "description": "the tensor's values in row-major order, flat or nested",
    "items": {"type": ["number", "string", "boolean", "array", "null"]},
}
SHAPE: Schema = {"type": "array", "items": {"type": "integer"}}

# --- Open Inference Protocol (V2) -------------------------------------------------------------------------------
V2_REQUEST_INPUT: Schema = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": SHAPE,
        "datatype": {"type": "string", "enum": list(DATATYPES)},
        "parameters": PARAMETERS,
        "data": TENSOR_DATA,
    },
}
V2_REQUEST_OUTPUT: Schema = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "parameters": PARAMETERS},
}
V2_INFERENCE_REQUEST: Schema = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": PARAMETERS,
        "inputs": {"type": "array", "items": V2_REQUEST_INPUT},
        "outputs": {"type": "array", "items": V2_REQUEST_OUTPUT},
    },
}
V2_RESPONSE_OUTPUT: Schema = {**V2_REQUEST_INPUT, "properties": {**V2_REQUEST_INPUT["properties"], "datatype": {}}}
V2_INFERENCE_RESPONSE: Schema = {
    "type": "object",
    "required": ["model_name", "outputs"],
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": ["string", "null"]},
        "id": {"type": ["string", "null"], "description": "the request's id (null when it had none)"},
        "parameters": PARAMETERS,
        "outputs": {"type": "array", "items": V2_RESPONSE_OUTPUT},
    },
}
V2_SERVER_METADATA: Schema = {
    "type": "object",
    "required": ["name", "version", "extensions"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "extensions": {"type": "array", "items": {"type": "string"}},
    },
}
V2_METADATA_TENSOR: Schema = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {"name": {"type": "string"}, "datatype": {"type": "string"}, "shape": SHAPE},
}
V2_MODEL_METADATA: Schema = {
    "type": "object",
    "required": ["name", "platform"],
    "properties": {
        "name": {"type": "string"},
        "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": V2_METADATA_TENSOR},
        "outputs": {"type": "array", "items": V2_METADATA_TENSOR},
        "parameters": PARAMETERS,
    },
}
V2_MODEL_READY: Schema = {
    "type": "object",
    "required": ["name", "ready"],
    "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
}

# --- Seldon Core v1 ---------------------------------------------------------------------------------------------
SELDON_TENSOR: Schema = {
    "type": "object",
    "description": "Seldon Tensor: shape and row-major values",
    "properties": {"shape": SHAPE, "values": {"type": "array", "items": {"type": "number"}}},
}
TF_TENSOR: Schema = {
    "type": "object",
    "description": "tensorflow.TensorProto as JSON: dtype (DT_FLOAT...), tensorShape.dim[].size and one *Val list",
    "properties": {
        "dtype": {"type": "string"},
        "tensorShape": {
            "type": "object",
            "properties": {
                "dim": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"size": {"type": ["string", "integer"]}}},
                }
            },
        },
    },
}
SELDON_DATA: Schema = {
    "type": "object",
    "description": "DefaultData: names plus one of ndarray, tensor, tftensor",
    "properties": {
        "names": {"type": "array", "items": {"type": "string"}},
        "ndarray": {"type": "array", "description": "google.protobuf.ListValue: rows of values"},
        "tensor": SELDON_TENSOR,
        "tftensor": TF_TENSOR,
    },
}
SELDON_META: Schema = {
    "type": "object",
    "properties": {
        "puid": {"type": "string", "description": "the prediction's unique id"},
        "tags": {"type": "object"},
        "routing": {"type": "object", "additionalProperties": {"type": "integer"}},
        "requestPath": {"type": "object", "additionalProperties": {"type": "string"}},
        "metrics": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "type": {"type": "string", "enum": ["COUNTER", "GAUGE", "TIMER"]},
                    "value": {"type": "number"},
                    "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
    },
}
SELDON_STATUS: Schema = {
    "type": "object",
    "properties": {
        "code": {"type": "integer"},
        "info": {"type": "string"},
        "reason": {"type": "string"},
        "status": {"type": "string", "enum": ["SUCCESS", "FAILURE"]},
    },
}
SELDON_MESSAGE: Schema = {
    "type": "object",
    "description": "SeldonMessage: at most one of data, strData, jsonData, binData; meta; status",
    "properties": {
        "data": SELDON_DATA,
        "strData": {"type": "string"},
        "jsonData": ANY_JSON,
        "binData": {"type": "string", "contentEncoding": "base64"},
        "meta": SELDON_META,
        "status": SELDON_STATUS,
    },
}
SELDON_FEEDBACK: Schema = {
    "type": "object",
    "description": "Seldon Feedback: the request, the response (or a request id), the truth and/or a reward",
    "properties": {
        "request": SELDON_MESSAGE,
        "response": SELDON_MESSAGE,
        "truth": SELDON_MESSAGE,
        "reward": {"type": "number"},
    },
}

# --- KServe v1 and explain requests -----------------------------------------------------------------------------
KSERVE_V1_REQUEST: Schema = {
    "type": "object",
    "description": "KServe v1 / TF-Serving: instances (rows) or inputs (columns)",
    "properties": {
        "instances": {"type": "array"},
        "inputs": {"type": ["array", "object"]},
        "signature_name": {"type": "string"},
    },
}
EXPLAIN_PARAMETERS: Schema = {
    "type": "object",
    "description": "keyword arguments of the alibi explainer's explain() (threshold, coverage_samples...), within "
    "the limits of --explain-limit",
}


def with_properties(schema: Schema, **properties: Schema) -> Schema:
    """``schema`` with more properties (the explain variants of the protocol bodies)."""
    return {**schema, "properties": {**schema["properties"], **properties}}


SELDON_EXPLAIN_REQUEST = with_properties(SELDON_MESSAGE, parameters=EXPLAIN_PARAMETERS)
KSERVE_V1_EXPLAIN_REQUEST = with_properties(KSERVE_V1_REQUEST, parameters=EXPLAIN_PARAMETERS)
EXPLAIN_REQUEST: Schema = {
    "type": "object",
    "required": ["instances"],
    "properties": {"instances": {"type": "array"}, "parameters": EXPLAIN_PARAMETERS, "id": {"type": "string"}},
}
EXPLANATIONS: Schema = {
    "type": "object",
    "required": ["explanations"],
    "properties": {"explanations": {"type": "array", "items": {"type": "object"}}},
}
INFERENCE_BODY: Schema = {"anyOf": [SELDON_MESSAGE, V2_INFERENCE_REQUEST, KSERVE_V1_REQUEST]}
"""A request body of any protocol the detectors decode (chosen by ``?protocol=``, the path or sniffing)."""

# --- CloudEvents ------------------------------------------------------------------------------------------------
EVENT_TYPES = list(EVENT_KINDS)
CLOUDEVENT: Schema = {
    "type": "object",
    "description": "CloudEvents 1.0 structured mode; other members are extension attributes",
    "required": ["id", "source", "type", "specversion"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "source": {"type": "string", "minLength": 1},
        "type": {"type": "string", "examples": EVENT_TYPES},
        "specversion": {"type": "string", "enum": list(SPEC_VERSIONS)},
        "datacontenttype": {"type": "string"},
        "subject": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "data": ANY_JSON,
        "data_base64": {"type": "string", "contentEncoding": "base64"},
    },
}


def cloudevent_headers(types: list[str]) -> list[dict[str, Any]]:
    """The ``ce-*`` header parameters of a binary-mode CloudEvent of one of ``types`` (optional, as structured
    mode has none); the body is then the event's data."""

    def header(name: str, schema: Schema, description: str) -> dict[str, Any]:
        return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}

    return [
        header("ce-id", {"type": "string"}, "event id (KServe: the same on request and response)"),
        header(headers.CE_SOURCE, {"type": "string"}, "event source"),
        header(headers.CE_TYPE, {"type": "string", "enum": types}, "event type"),
        header(headers.CE_SPECVERSION, {"type": "string", "enum": list(SPEC_VERSIONS)}, "CloudEvents version"),
        header("ce-requestid", {"type": "string"}, "Seldon: the request id pairing request and response"),
    ]


# --- errors and request bodies ----------------------------------------------------------------------------------
ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}, "details": ANY_JSON},
        }
    },
}
"""The body of every error answer (``inferwatch.web.install_error_handler``)."""
_ERRORS = {
    400: "Malformed body: not JSON, not the protocol's shape, or an unknown protocol",
    404: "No such model: the message names the model this server serves",
    413: "Too large: more tensor elements than --max-elements, or a body over the size limit",
    422: "Well-formed but wrong: shape and data disagree, a value outside its datatype, wrong feature count",
    502: "The model server is unreachable or failed",
    503: "Not ready",
    504: "The model server did not answer in time",
}
BODY_ERRORS = (400, 413, 422)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` for these error statuses, each with the error body's schema."""
    return {s: {"description": _ERRORS[s], "content": {"application/json": {"schema": ERROR}}} for s in statuses}


def json_response(schema: Schema, description: str = "OK") -> dict[str, Any]:
    """A FastAPI ``responses=`` entry: a JSON answer of this schema (checked by schemathesis' conformance check)."""
    return {"description": description, "content": {headers.JSON_CONTENT_TYPE: {"schema": schema}}}


def request_body(
    schema: Schema, description: str, *, cloudevents: bool = False, examples: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An OpenAPI ``requestBody`` of ``application/json`` (and ``application/cloudevents+json`` holding a structured
    event, with ``cloudevents``); ``examples``: name -> a JSON body (shown in ``/docs``, replayed by fuzzers)."""
    content: dict[str, Any] = {headers.JSON_CONTENT_TYPE: {"schema": schema}}
    if examples:
        content[headers.JSON_CONTENT_TYPE]["examples"] = {k: {"value": v} for k, v in examples.items()}
    if cloudevents:
        content[headers.CLOUDEVENTS_JSON] = {"schema": CLOUDEVENT}
    return {"required": True, "description": description, "content": content}


def openapi_extra(
    schema: Schema,
    description: str,
    *,
    cloudevents: bool = False,
    parameters: list[dict[str, Any]] | None = None,
    examples: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``openapi_extra`` of a route whose handler reads the raw body: its request body (and extra parameters)."""
    extra: dict[str, Any] = {
        "requestBody": request_body(schema, description, cloudevents=cloudevents, examples=examples)
    }
    if parameters:
        extra["parameters"] = parameters
    return extra


def example_bodies(row: list[Any]) -> dict[str, Any]:
    """One request of each protocol carrying ``row`` (one instance): the examples of the inference routes."""
    return {
        "seldon": {"data": {"ndarray": [row]}, "meta": {"puid": "example-1"}},
        "v2": {
            "id": "example-1",
            "inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}],
        },
        "kserve-v1": {"instances": [row]},
    }


def protocol_parameter() -> dict[str, Any]:
    """The ``?protocol=`` query parameter of the detectors' Seldon routes (a name or an alias)."""
    names = sorted({*PROTOCOLS, *ALIASES})
    return {
        "name": "protocol",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": names},
        "description": "the body's protocol (default: --protocol, else sniffed)",
    }

"""Building a Seldon ``jsonData`` message from a value (how a detector answers as a Seldon graph component)."""

from __future__ import annotations

import numpy as np
import orjson

from inferwatch.protocols import SELDON, get_codec
from inferwatch.protocols.seldon import json_message

CODEC = get_codec(SELDON)


def test_json_message_carries_the_value_and_an_empty_meta() -> None:
    value = {"data": {"is_drift": 1, "p_val": np.array([0.5, 0.25])}, "meta": {"name": "KSDrift"}}
    body = CODEC.encode_response(json_message(value))
    assert body == {"meta": {}, "jsonData": value}
    wire = orjson.loads(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))
    assert wire == {
        "meta": {},
        "jsonData": {"data": {"is_drift": 1, "p_val": [0.5, 0.25]}, "meta": {"name": "KSDrift"}},
    }


def test_json_message_round_trips_with_its_meta() -> None:
    message = json_message({"accuracy": 0.9}, meta={"tags": {"a": 1}})
    body = CODEC.encode_response(message)
    assert body == {"meta": {"tags": {"a": 1}}, "jsonData": {"accuracy": 0.9}}
    decoded = CODEC.decode_response(body)
    assert decoded.tensors[0].data == [{"accuracy": 0.9}] and decoded.parameters == {"tags": {"a": 1}}
    assert CODEC.encode_response(decoded) == body

"""Request ids: one module decides which id an exchange is known by, for every protocol."""

from __future__ import annotations

import re

import orjson
import pytest

from inferwatch import ids

UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_new_ids_are_uuid_shaped_and_distinct() -> None:
    made = [ids.new_request_id() for _ in range(1000)]
    assert all(UUID_SHAPE.match(i) for i in made)
    assert len(set(made)) == len(made)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-request-id": "a", "seldon-puid": "b", "ce-requestid": "c"}, "a"),
        ({"x-request-id": "", "seldon-puid": "b", "ce-requestid": "c"}, "b"),
        ({"ce-requestid": "c", "ce-id": "d"}, "c"),
        ({"ce-id": "d"}, None),
        ({}, None),
    ],
)
def test_headers_in_precedence_order(headers: dict[str, str], expected: str | None) -> None:
    assert ids.from_headers(headers) == expected


def test_ce_id_only_when_asked() -> None:
    assert ids.from_headers({"ce-id": "d"}, ce_id=True) == "d"
    assert ids.from_headers({"ce-requestid": "c", "ce-id": "d"}, ce_id=True) == "c"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"id": "v2-1", "inputs": []}, "v2-1"),
        ({"id": 7, "inputs": []}, None),  # V2 ids are strings
        ({"meta": {"puid": "s-1"}, "data": {"ndarray": [[1]]}}, "s-1"),
        ({"meta": {"puid": ""}, "data": {}}, None),
        ({"request": {"meta": {"puid": "rq"}}, "response": {"meta": {"puid": "rs"}}, "truth": {}}, "rq"),
        ({"response": {"meta": {"puid": "rs"}}, "truth": {"meta": {"puid": "t"}}}, "rs"),
        ({"truth": {"meta": {"puid": "t"}}}, "t"),
        ({"instances": [[1, 2]]}, None),
        ([1, 2], None),
    ],
)
def test_body_ids_for_every_protocol(doc: object, expected: str | None) -> None:
    assert ids.from_body(doc) == expected


def test_proxy_id_header_then_v2_body_then_new() -> None:
    body = orjson.dumps({"id": "from-body", "inputs": []})
    assert ids.request_id_for({"x-request-id": "h"}, body, "/v2/models/m/infer") == "h"
    assert ids.request_id_for({}, body, "/v2/models/m/infer") == "from-body"
    made = ids.request_id_for({}, body, "/api/v1.0/predictions")  # only V2 paths carry a body id
    assert made != "from-body" and UUID_SHAPE.match(made)
    assert UUID_SHAPE.match(ids.request_id_for({}, b"{not json", "/v2/models/m/infer"))


@pytest.mark.parametrize(
    ("request_id", "header"),
    [("v2-req-42", "v2-req-42"), ("a b", "a%20b"), ("50%", "50%25"), ("Ā\r\nx", "%C4%80%0D%0Ax"), ("", "")],
)
def test_header_value_keeps_visible_ascii_and_percent_encodes_the_rest(request_id: str, header: str) -> None:
    assert ids.header_value(request_id) == header

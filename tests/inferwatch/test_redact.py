import base64
from typing import Any

import numpy as np
import pytest

from inferwatch.protocols import CODECS
from inferwatch.redact import DEFAULT_MASK, Redactor

MASK = DEFAULT_MASK


def _decoded_rows(doc: Any, protocol: str) -> list[dict[str, Any]]:
    """What the record's instances are made of: the masked body decoded by its codec."""
    codec = CODECS[protocol]
    payload = codec.decode_request(doc)
    assert codec.encode_request(payload) == doc  # a masked body still round-trips through its codec
    return payload.rows()


def test_paths_mask_exact_and_wildcard_locations() -> None:
    body = {"meta": {"tags": {"user": "alice", "keep": 1}}, "inputs": [{"parameters": {"user": "bob"}}, {}]}
    out = Redactor(paths=["meta.tags.user", "inputs.*.parameters.user"]).redact(body)
    assert out is not None
    assert out["meta"]["tags"] == {"user": DEFAULT_MASK, "keep": 1}
    assert out["inputs"][0]["parameters"]["user"] == DEFAULT_MASK
    assert body["meta"]["tags"]["user"] == "alice"  # the original is untouched


def test_fields_mask_keys_v2_inputs_and_seldon_columns() -> None:
    seldon = {"data": {"names": ["age", "ssn"], "ndarray": [[31, "123"], [40, "456"]]}}
    v2 = {
        "inputs": [
            {"name": "ssn", "datatype": "BYTES", "shape": [1], "data": ["123"]},
            {"name": "age", "datatype": "INT64", "shape": [1], "data": [31]},
        ]
    }
    jd = {"jsonData": {"customer": {"ssn": "123", "city": "Oslo"}}}
    r = Redactor(fields=["ssn"])
    s = r.redact(seldon)
    assert s is not None and [row[1] for row in s["data"]["ndarray"]] == [DEFAULT_MASK, DEFAULT_MASK]
    assert [row[0] for row in s["data"]["ndarray"]] == [31, 40]
    v = r.redact(v2)
    assert v is not None and v["inputs"][0]["data"] == [DEFAULT_MASK] and v["inputs"][1]["data"] == [31]
    j = r.redact(jd)
    assert j is not None and j["jsonData"]["customer"] == {"ssn": DEFAULT_MASK, "city": "Oslo"}


def test_nothing_matched_returns_none() -> None:
    assert Redactor(paths=["a.b"], fields=["zz"]).redact({"a": {"c": 1}}) is None
    assert not Redactor()


def test_a_masked_v2_input_becomes_bytes_of_its_shape_and_the_other_inputs_stay_decodable() -> None:
    """Defect 3: ``data: "[REDACTED]"`` in an INT64 input made the whole request undecodable."""
    v2 = {
        "inputs": [
            {"name": "ssn", "datatype": "INT64", "shape": [2, 1], "data": [[123456789], [987654321]]},
            {"name": "age", "datatype": "INT64", "shape": [2, 1], "data": [31, 40]},
        ]
    }
    out = Redactor(fields=["ssn"]).redact(v2)
    assert out is not None
    assert out["inputs"][0] == {"name": "ssn", "datatype": "BYTES", "shape": [2, 1], "data": [[MASK], [MASK]]}
    assert out["inputs"][1] == v2["inputs"][1]
    assert _decoded_rows(out, "v2") == [{"ssn": MASK, "age": 31}, {"ssn": MASK, "age": 40}]


def test_a_path_onto_a_v2_tensors_data_masks_it_the_same_decodable_way() -> None:
    v2 = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [0.5, 1.5], "parameters": {"a": 1}}]}
    out = Redactor(paths=["inputs.0.data"]).redact(v2)
    assert out is not None and out["inputs"][0]["datatype"] == "BYTES" and out["inputs"][0]["data"] == [MASK, MASK]
    assert out["inputs"][0]["parameters"] == {"a": 1}
    assert _decoded_rows(out, "v2") == [{"x": MASK}, {"x": MASK}]


def test_a_binary_v2_tensor_is_masked_element_wise_and_loses_its_binary_size() -> None:
    """After ``parse_binary`` a tensor's data is a numpy array and its size parameter describes bytes now gone."""
    doc = {
        "inputs": [
            {"name": "ssn", "datatype": "INT64", "shape": [2], "parameters": {"binary_data_size": 16}, "data": None},
            {"name": "age", "datatype": "INT64", "shape": [2], "data": [31, 40]},
        ]
    }
    doc["inputs"][0]["data"] = np.array([123456789, 987654321], dtype=np.int64)
    out = Redactor(fields=["ssn"]).redact(doc)
    assert out is not None and out["inputs"][0]["data"] == [MASK, MASK] and out["inputs"][0]["parameters"] == {}
    assert _decoded_rows(out, "v2") == [{"ssn": MASK, "age": 31}, {"ssn": MASK, "age": 40}]


def test_seldon_tensor_columns_are_masked_in_the_row_major_flat_values() -> None:
    """Defect 2: a Seldon ``tensor`` with ``names`` was not masked at all."""
    doc = {
        "data": {
            "names": ["age", "ssn", "zip"],
            "tensor": {"shape": [2, 3], "values": [31, 123456789, 1000, 40, 987654321, 2000]},
        }
    }
    out = Redactor(fields=["ssn"]).redact(doc)
    assert out is not None
    assert out["data"]["tensor"] == {"shape": [2, 3], "values": [31, MASK, 1000, 40, MASK, 2000]}
    assert _decoded_rows(out, "seldon") == [
        {"age": 31, "ssn": MASK, "zip": 1000},
        {"age": 40, "ssn": MASK, "zip": 2000},
    ]


def test_seldon_tftensor_columns_are_masked_in_its_value_list_also_from_tensor_content() -> None:
    content = base64.b64encode(np.array([[1, 2, 3], [4, 5, 6]], dtype="<f4").tobytes()).decode()
    shape = {"dim": [{"size": "2"}, {"size": "3"}]}
    doc = {"data": {"names": ["a", "ssn", "c"], "tftensor": {"dtype": "DT_FLOAT", "tensorShape": shape}}}
    doc["data"]["tftensor"]["tensorContent"] = content
    out = Redactor(fields=["ssn"]).redact(doc)
    assert out is not None
    tf = out["data"]["tftensor"]
    assert "tensorContent" not in tf and tf["floatVal"] == [1.0, MASK, 3.0, 4.0, MASK, 6.0]
    assert _decoded_rows(out, "seldon") == [{"a": 1.0, "ssn": MASK, "c": 3.0}, {"a": 4.0, "ssn": MASK, "c": 6.0}]


def test_seldon_tftensor_int64_strings_keep_their_protobuf_json_form() -> None:
    shape = {"dim": [{"size": "1"}, {"size": "3"}]}
    doc = {
        "data": {
            "names": ["a", "ssn", "c"],
            "tftensor": {"dtype": "DT_INT64", "tensorShape": shape, "int64Val": ["1", "123456789", "3"]},
        }
    }
    out = Redactor(fields=["ssn"]).redact(doc)
    assert out is not None and out["data"]["tftensor"]["int64Val"] == ["1", MASK, "3"]
    assert _decoded_rows(out, "seldon") == [{"a": 1, "ssn": MASK, "c": 3}]


def test_a_seldon_matrix_whose_names_do_not_fit_its_width_is_masked_whole() -> None:
    """The column cannot be located: masking everything is the only safe choice."""
    doc = {"data": {"names": ["ssn"], "tensor": {"shape": [1, 2], "values": [123456789, 5]}}}
    out = Redactor(fields=["ssn"]).redact(doc)
    assert out is not None and out["data"]["tensor"]["values"] == [MASK, MASK]


def test_seldon_ndarray_keeps_every_other_column_decodable() -> None:
    doc = {"data": {"names": ["age", "ssn"], "ndarray": [[31, 123456789], [40, 987654321]]}}
    out = Redactor(fields=["ssn"]).redact(doc)
    assert _decoded_rows(out, "seldon") == [{"age": 31, "ssn": MASK}, {"age": 40, "ssn": MASK}]


@pytest.mark.parametrize(
    ("doc", "rows"),
    [
        (
            {"instances": [{"ssn": "123-45-6789", "age": 31}, {"ssn": "987-65-4321", "age": 40}]},
            [{"ssn": MASK, "age": 31}, {"ssn": MASK, "age": 40}],
        ),
        (
            {"inputs": {"ssn": ["123-45-6789", "987-65-4321"], "age": [31, 40]}},
            [{"ssn": MASK, "age": 31}, {"ssn": MASK, "age": 40}],
        ),
        (
            {"instances": [{"ssn": [1, 2], "age": 31}, {"ssn": [3, 4], "age": 40}]},
            [{"ssn_0": MASK, "ssn_1": MASK, "age": 31}, {"ssn_0": MASK, "ssn_1": MASK, "age": 40}],
        ),
    ],
    ids=["instances", "columnar", "instances-with-vectors"],
)
def test_kserve_v1_named_values_are_masked_element_wise_and_the_batch_stays_aligned(doc: Any, rows: Any) -> None:
    out = Redactor(fields=["ssn"]).redact(doc)
    assert out is not None and _decoded_rows(out, "kserve-v1") == rows


def test_a_field_holding_an_object_is_masked_whole_so_no_key_below_it_survives() -> None:
    out = Redactor(fields=["customer"]).redact({"jsonData": {"customer": {"123-45-6789": True}, "n": [{"a": 1}]}})
    assert out == {"jsonData": {"customer": MASK, "n": [{"a": 1}]}}
    out = Redactor(fields=["n"]).redact({"n": [{"123-45-6789": 1}, [2, {"x": 3}]]})
    assert out == {"n": [MASK, [MASK, MASK]]}


def test_masking_twice_changes_nothing_and_still_reports_the_match() -> None:
    r = Redactor(fields=["ssn"])
    once = r.redact({"inputs": [{"name": "ssn", "datatype": "INT64", "shape": [1], "data": [1]}], "ssn": [1]})
    assert once is not None and r.redact(once) == once


def test_mask_fields_masks_keys_anywhere_for_tags_and_metadata() -> None:
    tags = {"ce_type": "org.kubeflow.serving.inference.request", "metadata": {"ssn": ["123"], "team": ["a"]}}
    out = Redactor(paths=["metadata.team"], fields=["ssn"]).mask_fields(tags)
    assert out == {"ce_type": tags["ce_type"], "metadata": {"ssn": [MASK], "team": ["a"]}}  # paths are body paths
    assert Redactor(fields=["zz"]).mask_fields(tags) is None


def test_a_tensor_name_that_is_not_a_string_is_not_a_field_and_breaks_nothing() -> None:
    """Found by tests/inferwatch/protocols/test_properties.py: a list as a V2 input's name raised TypeError, so the
    exchange's record could not be built."""
    body = {"inputs": [{"name": ["ssn"], "shape": [1], "datatype": "INT64", "data": [1]}, {"ssn": 5}]}
    assert Redactor([], ["ssn"]).redact(body) == {
        "inputs": [{"name": ["ssn"], "shape": [1], "datatype": "INT64", "data": [1]}, {"ssn": DEFAULT_MASK}]
    }

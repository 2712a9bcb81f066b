from inferwatch.redact import DEFAULT_MASK, Redactor


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
    assert v is not None and v["inputs"][0]["data"] == DEFAULT_MASK and v["inputs"][1]["data"] == [31]
    j = r.redact(jd)
    assert j is not None and j["jsonData"]["customer"] == {"ssn": DEFAULT_MASK, "city": "Oslo"}


def test_nothing_matched_returns_none() -> None:
    assert Redactor(paths=["a.b"], fields=["zz"]).redact({"a": {"c": 1}}) is None
    assert not Redactor()

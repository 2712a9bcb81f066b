"""The bounded decoders of ``inferwatch.limits``: JSON depth and streamed decompression with a cap."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime

import orjson
import pytest

from inferwatch import jsonenc, limits
from inferwatch.errors import LimitExceeded
from inferwatch.records import InferenceRecord


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("doc", "depth"),
    [
        (1, 0),
        ([], 1),
        ({"a": [1, {"b": []}]}, 4),
        ([[1.0] * 1000] * 100, 2),
        ([1, [2, {"a": [3]}]], 4),
        ({"a": 1, "b": {}}, 2),
    ],
)
def test_json_depth_counts_containers(doc: object, depth: int) -> None:
    assert limits.json_depth(doc) == depth


def test_json_depth_stops_counting_past_the_limit() -> None:
    assert limits.json_depth(orjson.loads(nested(900)), stop_above=10) == 11


def test_loads_refuses_a_document_deeper_than_the_limit_naming_it() -> None:
    assert limits.loads(nested(64), 64) == orjson.loads(nested(64))
    with pytest.raises(LimitExceeded) as e:
        limits.loads(b'{"meta": ' + nested(300).encode() + b"}", 64)
    assert e.value.status_code == 400 and e.value.limit == "json_depth" and "--max-json-depth" in e.value.message


def test_the_depth_ceiling_leaves_room_for_the_record_around_a_body() -> None:
    """The store's encoder stops at ``STORABLE_JSON_DEPTH``; a body at the ceiling, inside a record's tags, still
    serialises — and one level past the encoder's limit does not (the constant is the real one)."""
    deep = orjson.loads(nested(limits.JSON_DEPTH_CEILING))
    rec = InferenceRecord(id="r", received_at=datetime.now(UTC), tags={"metadata": {"x": deep}})
    assert orjson.loads(rec.to_json())["tags"]["metadata"]["x"] == deep
    jsonenc.dumps(orjson.loads(nested(limits.STORABLE_JSON_DEPTH)))
    with pytest.raises(orjson.JSONEncodeError):
        jsonenc.dumps(orjson.loads(nested(limits.STORABLE_JSON_DEPTH + 1)))


def test_decompress_within_the_caps_gives_the_body() -> None:
    body = orjson.dumps({"data": {"ndarray": [[1.0, 2.0]] * 100}})
    assert limits.decompress(gzip.compress(body), "gzip", 1 << 20, 100) == body
    assert limits.decompress(zlib.compress(body), "deflate", 1 << 20, 100) == body
    assert limits.decompress(gzip.compress(body[:10]) + gzip.compress(body[10:]), "gzip", 1 << 20) == body
    assert limits.decompress(body, None, 10) == body  # not compressed: as it is


def test_a_bomb_stops_at_the_size_cap_without_inflating_it() -> None:
    bomb = gzip.compress(b"0" * (100 << 20))  # ~100 KB on the wire
    with pytest.raises(LimitExceeded) as e:
        limits.decompress(bomb, "gzip", 16 << 20, None)
    assert e.value.limit == "decompressed_bytes" and e.value.status_code == 413
    assert "--max-decompressed-bytes" in e.value.message


def test_a_bomb_stops_at_the_ratio_cap_before_the_size_cap() -> None:
    bomb = gzip.compress(b"0" * (8 << 20))
    with pytest.raises(LimitExceeded) as e:
        limits.decompress(bomb, "gzip", 64 << 20, 100)
    assert e.value.limit == "decompression_ratio" and "--max-decompression-ratio" in e.value.message
    small = gzip.compress(b"0" * 500_000)  # very compressible but under RATIO_FLOOR: allowed
    assert len(limits.decompress(small, "gzip", 64 << 20, 100)) == 500_000


def test_broken_or_truncated_compressed_data_comes_back_as_captured() -> None:
    truncated = gzip.compress(b"x" * 1000)[:20]
    assert limits.decompress(truncated, "gzip", 1 << 20) == truncated
    assert limits.decompress(b"not gzip", "gzip", 1 << 20) == b"not gzip"

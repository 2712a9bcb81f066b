"""Records for the Kafka and search-engine sink tests, built the way the logger builds them: real exchanges
captured from the Seldon Python wrapper and MLServer (``tests/testdata/peers``) through ``RecordBuilder``."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.limits import HttpLimits
from inferwatch.records import InferenceRecord

PEERS = Path(__file__).resolve().parents[2] / "testdata" / "peers"
_INDEX = {e["name"]: e for e in json.loads((PEERS / "index.json").read_text())}
BUILDER = RecordBuilder()
UNLIMITED = RecordBuilder(limits=HttpLimits(json_depth=1024))
"""A builder without the JSON depth limit (orjson's own 1024 aside): what a record from elsewhere may hold."""


def golden(
    name: str,
    *,
    request_id: str | None = None,
    namespace: str | None = "prod",
    deployment: str | None = "iris",
    endpoint: str | None = "default",
    tags: dict[str, object] | None = None,
) -> InferenceRecord:
    """The record of captured exchange ``name`` (e.g. ``seldon_ndarray``: a batch of 2 iris rows)."""
    entry = _INDEX[name]
    t0 = time.time()
    ex = Exchange(
        request_id=request_id or uuid.uuid4().hex,
        received_at=t0,
        responded_at=t0 + 0.004,
        request=_body(PEERS / f"{name}_request.json"),
        response=_body(PEERS / f"{name}_response.json"),
        status_code=entry["status"],
        method=entry["method"],
        path=entry["path"],
        namespace=namespace,
        deployment=deployment,
        endpoint=endpoint,
        tags=dict(tags or {}),
    )
    return BUILDER.build(ex)


def _body(path: Path) -> Body | None:
    if not path.exists():
        return None
    raw = path.read_bytes()
    return Body(raw, "application/json", len(raw))


def batch(n: int, name: str = "seldon_ndarray", prefix: str = "req", **kw: object) -> list[InferenceRecord]:
    """``n`` records of the same exchange with ids ``<prefix>-<i>``."""
    return [golden(name, request_id=f"{prefix}-{i:05d}", **kw) for i in range(n)]  # type: ignore[arg-type]


def exchange_record(
    request: bytes, response: bytes | None, request_id: str, builder: RecordBuilder = BUILDER, **kw: object
) -> InferenceRecord:
    """The record the logger builds for a Seldon prediction with these bodies (``prod``/``iris``/``default``)."""
    t0 = time.time()
    ex = Exchange(
        request_id=request_id,
        received_at=t0,
        responded_at=t0 + 0.004,
        request=Body(request, "application/json", len(request)),
        response=Body(response, "application/json", len(response)) if response is not None else None,
        status_code=200,
        method="POST",
        path="/api/v1.0/predictions",
        namespace="prod",
        deployment="iris",
        endpoint="default",
        **kw,  # type: ignore[arg-type]
    )
    return builder.build(ex)


def deep_record(request_id: str = "deep", depth: int = 300) -> InferenceRecord:
    """A prediction whose request nests ``depth`` lists deep: orjson parses it (up to 1024) but cannot write it
    back (``TypeError: Recursion limit reached`` past 254), so ``to_json`` fails. Built without the logger's JSON
    depth limit (which would record the body undecoded): the record a sink may still get from elsewhere."""
    request = b'{"data": {"ndarray": ' + b"[" * depth + b"1" + b"]" * depth + b"}}"
    return exchange_record(request, b'{"data": {"ndarray": [1]}}', request_id, UNLIMITED)


def big_seldon_record(request_id: str = "big", request_kb: int = 360, response_kb: int = 57) -> InferenceRecord:
    """A Seldon ndarray prediction of about ``request_kb`` KB whose response is about ``response_kb`` KB: its
    record (raw + decoded + instances) is several times that."""
    names = [f"f{i}" for i in range(30)]
    rows = max(1, request_kb * 1024 // 235)
    request = {
        "data": {"names": names, "ndarray": [[round(1.0 + i * 0.001 + j, 4) for j in range(30)] for i in range(rows)]}
    }
    out_rows = max(1, response_kb * 1024 // 43)
    response = {"data": {"names": ["a", "b", "c"], "ndarray": [[0.1234567891, 0.2345678912, 0.6419753197]] * out_rows}}
    return exchange_record(json.dumps(request).encode(), json.dumps(response).encode(), request_id)

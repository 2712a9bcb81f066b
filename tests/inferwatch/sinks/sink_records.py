"""Records for the Kafka and search-engine sink tests, built the way the logger builds them: real exchanges
captured from the Seldon Python wrapper and MLServer (``tests/testdata/peers``) through ``RecordBuilder``."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.records import InferenceRecord

PEERS = Path(__file__).resolve().parents[2] / "testdata" / "peers"
_INDEX = {e["name"]: e for e in json.loads((PEERS / "index.json").read_text())}
BUILDER = RecordBuilder()


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

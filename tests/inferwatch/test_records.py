from datetime import UTC, datetime

from inferwatch.records import Flag, InferenceRecord, PayloadRecord


def test_record_dict_round_trip_keeps_every_field() -> None:
    rec = InferenceRecord(
        id="r1",
        received_at=datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC),
        responded_at=datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC),
        latency_ms=876.5,
        model_name="iris",
        status_code=200,
        request=PayloadRecord(content_type="application/json", size=10, raw="{}", protocol="seldon"),
        instances=[{"request": {"a": 1.0}, "response": {"p": 0.5}}],
        tags={"k": "v"},
    )
    rec.flag(Flag.PARTIAL)
    rec.flag(Flag.PARTIAL)
    d = rec.to_dict()
    assert d["received_at"] == "2026-11-25T10:00:00.123456Z"
    assert d["flags"] == ["partial"]
    back = InferenceRecord.from_dict(d)
    assert back == rec
    assert back.has(Flag.PARTIAL) and not back.has(Flag.TRUNCATED)

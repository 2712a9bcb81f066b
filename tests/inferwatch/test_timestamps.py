from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from inferwatch import timestamps
from inferwatch.results import ResultRecord, drift_id
from tests.inferwatch.sinks.sink_records import golden

T = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))


def test_iso_is_utc_with_microseconds_and_z() -> None:
    assert timestamps.iso(T) == "2026-11-25T10:00:00.000000Z"
    assert timestamps.iso(T.astimezone(PARIS)) == "2026-11-25T10:00:00.000000Z"
    assert timestamps.iso(datetime(2026, 11, 25, 10, 0, 0, 7)) == "2026-11-25T10:00:00.000007Z"  # naive means UTC


def test_text_order_is_time_order() -> None:
    times = [T + timedelta(microseconds=n) for n in (0, 1, 999_999, 1_000_000, 3_600_000_000)]
    assert sorted(timestamps.iso(t) for t in reversed(times)) == [timestamps.iso(t) for t in times]


@pytest.mark.parametrize(
    "text",
    ["2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000000Z", "2026-11-25T11:00:00+01:00", "2026-11-25T10:00:00"],
)
def test_parse_accepts_iso_forms_and_naive_means_utc(text: str) -> None:
    t = timestamps.parse(text)
    assert t == T and t.tzinfo is not None


def test_parse_round_trips_iso_and_passes_datetimes() -> None:
    t = T + timedelta(microseconds=123)
    assert timestamps.parse(timestamps.iso(t)) == t
    assert timestamps.parse(t) is t
    assert timestamps.parse(datetime(2026, 11, 25, 10)) == T
    with pytest.raises(ValueError):
        timestamps.parse("yesterday")


def test_from_epoch_and_compact() -> None:
    assert timestamps.from_epoch(T.timestamp() + 0.25) == T + timedelta(milliseconds=250)
    assert timestamps.compact(T.astimezone(PARIS)) == "20261125T100000.000000Z"
    assert drift_id("iris", T) == "drift/iris/20261125T100000.000000Z"


def test_records_and_results_store_the_one_form() -> None:
    """A real captured exchange: the stored JSON carries exactly ``iso`` of the record's times."""
    record = golden("seldon_ndarray")
    stored = record.to_dict()
    assert stored["received_at"] == timestamps.iso(record.received_at)
    assert stored["responded_at"] == timestamps.iso(record.responded_at)  # type: ignore[arg-type]
    assert record.received_at == timestamps.from_epoch(record.received_at.timestamp())
    result = ResultRecord("r/outlier", "outlier", {"data": {"is_outlier": 1}}, "r", created_at=T)
    assert result.to_dict()["created_at"] == result.stamped_body()["created_at"] == "2026-11-25T10:00:00.000000Z"

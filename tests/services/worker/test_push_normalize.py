"""The push and bulk normalizers: entry ids on every value, relative times counted back, status as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.worker.normalize import normalize
from services.worker.normalize.rows import Context
from shared.queue import make_message
from shared.values import TimeWindow

CONTEXT = Context(window=TimeWindow(2000, 86_400))
NOW = datetime.now(UTC).replace(microsecond=0)


def test_push_rows_carry_the_entry_id_and_keep_status_text():
    message = make_message(
        "push",
        3,
        {"field1": "21.5", "@status": "42"},
        source="http",
        received_at=NOW.timestamp(),
        params={"entries": 1, "entry_id": 9},
    )
    rows = normalize([message], CONTEXT).rows
    assert sorted((r[2], r[5], r[7], r[9]) for r in rows) == [("@status", None, "42", 9), ("field1", 21.5, None, 9)]


def test_bulk_relative_times_end_at_the_receive_time_and_ids_follow_on():
    entries = [{"dt": 0, "values": {"a": "1"}}, {"dt": 30, "values": {"a": "2"}}, {"dt": 10, "values": {"a": "3"}}]
    message = make_message(
        "bulk",
        3,
        {"entries": entries},
        source="http",
        received_at=NOW.timestamp(),
        params={"entries": 3, "entry_id": 4},
    )
    rows = normalize([message], CONTEXT).rows
    assert [(r[4], r[6], r[9]) for r in rows] == [
        (NOW - timedelta(seconds=40), 1, 4),
        (NOW - timedelta(seconds=10), 2, 5),
        (NOW, 3, 6),
    ]


def test_bulk_entry_with_a_bad_time_is_rejected_alone():
    entries = [{"at": "1990-01-01T00:00:00Z", "values": {"a": "1"}}, {"at": NOW.isoformat(), "values": {"a": "2"}}]
    batch = normalize(
        [make_message("bulk", 3, {"entries": entries}, source="http", params={"entries": 2, "entry_id": 1})], CONTEXT
    )
    assert [(r[6], r[9]) for r in batch.rows] == [(2, 2)]
    assert len(batch.rejects) == 1 and "before 2000" in batch.rejects[0][5]

"""The telemetry and reject normalizers are pure: queue messages in, rows and rejects out."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from services.worker.normalize import normalize
from services.worker.normalize.rows import Context
from shared.queue import make_message
from shared.values import TimeWindow

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(*messages):
    return normalize(list(messages), Context(TimeWindow(2000, 86_400, now=RECEIVED)))


def telemetry(document, device="car-1"):
    return make_message(
        "telemetry", 5, orjson.dumps(document).decode(), source="mqtt", device=device, received_at=RECEIVED.timestamp()
    )


def test_plain_values_take_the_time_of_receipt_and_nest_as_dotted_names():
    batch = run(telemetry({"temperature": 21.5, "gps": {"lat": 48.1, "fix": True}, "note": "ok"}))
    assert batch.rejects == []
    assert [(r[1], r[2], r[4], r[5:9]) for r in batch.rows] == [
        ("car-1", "temperature", RECEIVED, (21.5, None, None, None)),
        ("car-1", "gps.lat", RECEIVED, (48.1, None, None, None)),
        ("car-1", "gps.fix", RECEIVED, (None, None, None, True)),
        ("car-1", "note", RECEIVED, (None, None, "ok", None)),
    ]


def test_timed_entries_and_arrays():
    batch = run(telemetry([{"ts": 1767225600000, "values": {"a": 1}}, {"ts": 1767225600500.0, "values": {"a": 2}}]))
    assert [(r[4], r[6]) for r in batch.rows] == [
        (datetime(2026, 1, 1, tzinfo=UTC), 1),
        (datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC), 2),
    ]


def test_a_bad_entry_is_rejected_alone():
    batch = run(
        telemetry(
            [
                {"ts": "yesterday", "values": {"a": 1}},
                {"a": None},
                {"ts": 0, "values": {"a": 1}},
                {"ts": 1767225600000, "values": {"a": 3}},
                7,
            ]
        )
    )
    assert [r[6] for r in batch.rows] == [3]
    reasons = [reject[5] for reject in batch.rejects]
    assert len(reasons) == 4
    assert "ts must be" in reasons[0] and "null" in reasons[1] and "before 2000" in reasons[2]
    assert "object" in reasons[3]
    assert batch.rejects[0][:5] == (5, RECEIVED, "mqtt", "telemetry", "car-1")


def test_whole_message_rejects():
    not_json = make_message("telemetry", 5, "{oops", source="mqtt", received_at=RECEIVED.timestamp())
    batch = run(not_json, telemetry([]), telemetry("text"))
    assert batch.rows == []
    assert [r[5] for r in batch.rejects] == [
        "payload is not JSON",
        "telemetry array is empty",
        'telemetry must be an object, {"ts": ..., "values": {...}}, or an array of these',
    ]


def test_reject_messages_become_rejected_records_under_the_intended_format():
    message = make_message(
        "reject",
        9,
        "{not json",
        source="mqtt",
        device="car-1",
        received_at=RECEIVED.timestamp(),
        params={"reason": "body is not JSON", "format": "telemetry", "topic": "devices/***/t"},
    )
    batch = run(message)
    assert batch.rows == []
    assert batch.rejects == [(9, RECEIVED, "mqtt", "telemetry", "car-1", "body is not JSON", "{not json")]

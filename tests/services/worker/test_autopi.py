"""The AutoPi normalizer, without servers: records in, typed rows, events and rejects out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.worker.normalize import autopi, normalize
from services.worker.normalize.rows import Context
from shared.queue import make_message
from shared.values import TimeWindow

SAMPLES = Path(__file__).parents[2] / "samples" / "autopi"  # copies of ../shared/samples/autopi
NOW = datetime(2026, 6, 1, tzinfo=UTC)
RECEIVED = NOW.timestamp()


def run(records, device: str | None = "car1"):
    payload = records if isinstance(records, str) else orjson.dumps(records).decode()
    message = make_message("autopi", 7, payload, source="http", device=device, received_at=RECEIVED)
    return normalize([message], Context(window=TimeWindow(2000, 86_400, now=NOW)))


def values(batch) -> dict[str, object]:
    """variable -> the stored value, taken from whichever column is set."""
    out = {}
    for _, _, variable, _, _, num, integer, text, flag, _ in batch.rows:
        out[variable] = next(v for v in (num, integer, text, flag) if v is not None)
    return out


def test_track_pos_sample_flattens_nested_location_and_keeps_types():
    batch = run(orjson.loads((SAMPLES / "track_pos.json").read_bytes()))
    got = values(batch)
    assert got == {
        "track.pos.utc": "06:02:24",
        "track.pos.cog": 140.22,
        "track.pos.nsat": 9,
        "track.pos.alt": 34,
        "track.pos.sog": 0,
        "track.pos.loc.lat": 57.02241,
        "track.pos.loc.lon": 9.89919,
    }
    assert isinstance(got["track.pos.nsat"], int) and isinstance(got["track.pos.loc.lat"], float)
    assert {row[4] for row in batch.rows} == {datetime(2020, 9, 3, 12, 38, 24, 374314, tzinfo=UTC)}
    assert {(row[0], row[1], row[3]) for row in batch.rows} == {(7, "car1", "{}")}
    assert batch.events == [] and batch.rejects == []


def test_obd_bat_keeps_the_string_state_and_data_usage_its_integers():
    got = values(
        run(
            orjson.loads((SAMPLES / "obd_bat.json").read_bytes())
            + orjson.loads((SAMPLES / "data_usage.json").read_bytes())
        )
    )
    assert got == {
        "obd.bat.voltage": 15.4,
        "obd.bat.state": "overcharging",
        "obd.bat.level": 100,
        "ec2x.data_usage.sent": 2695,
        "ec2x.data_usage.recv": 4742,
    }


def test_event_records_become_events_with_tag_and_fields_and_also_variables():
    batch = run(orjson.loads((SAMPLES / "events.json").read_bytes()))
    events = [(t, moment, tag, orjson.loads(fields)) for _, _, t, moment, tag, fields in batch.events]
    assert events == [
        ("event.system.minion", datetime(2021, 2, 24, 9, 2, 12, 192479, tzinfo=UTC), "system/minion/online", {}),
        (
            "event.system.power",
            datetime(2021, 2, 24, 9, 2, 2, 532461, tzinfo=UTC),
            "system/power/on",
            {"trigger": "stn", "awaken": "sleeping"},
        ),
    ]
    assert values(batch) == {
        "event.system.minion.@tag": "system/minion/online",
        "event.system.power.@tag": "system/power/on",
        "event.system.power.trigger": "stn",
        "event.system.power.awaken": "sleeping",
    }


def test_arrays_by_index_booleans_and_nulls():
    got = values(
        run(
            [
                {
                    "@t": "acc.xyz",
                    "@ts": "2026-05-01T00:00:00Z",
                    "v": [0.5, -1, {"z": True}],
                    "ok": False,
                    "missing": None,
                }
            ]
        )
    )
    assert got == {"acc.xyz.v.0": 0.5, "acc.xyz.v.1": -1, "acc.xyz.v.2.z": True, "acc.xyz.ok": False}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("not an object", "must be a JSON object"),
        ({"@ts": "2026-05-01T00:00:00Z", "x": 1}, "no @t"),
        ({"@t": "", "@ts": "2026-05-01T00:00:00Z", "x": 1}, "no @t"),
        ({"@t": "obd.bat", "x": 1}, "@ts"),
        ({"@t": "obd.bat", "@ts": "yesterday", "x": 1}, "not ISO-8601"),
        ({"@t": "obd.bat", "@ts": "1970-01-01T00:00:00Z", "x": 1}, "before 2000"),
        ({"@t": "obd.bat", "@ts": "2030-01-01T00:00:00Z", "x": 1}, "too far in the future"),
        ({"@t": "obd.bat", "@ts": "2026-05-01T00:00:00Z", "bad name": 1}, "valid variable name"),
        ({"@t": "event.x", "@ts": "2026-05-01T00:00:00Z", "@tag": 5}, "@tag must be a string"),
    ],
)
def test_a_broken_record_is_rejected_alone_with_its_reason_and_raw_json(record, reason):
    good = {"@t": "obd.bat", "@ts": "2026-05-01T00:00:00Z", "voltage": 12.5}
    batch = run([good, record, {**good, "@ts": "2026-05-01T00:00:01Z"}])
    assert [row[2] for row in batch.rows] == ["obd.bat.voltage", "obd.bat.voltage"]
    assert batch.events == []
    [(dataset_id, received, source, fmt, device, why, raw)] = batch.rejects
    assert (dataset_id, received, source, fmt, device) == (7, NOW, "http", "autopi", "car1")
    assert reason in why
    assert orjson.loads(raw) == record


def test_a_rejected_event_record_leaves_no_partial_rows_or_event():
    batch = run([{"@t": "event.x", "@ts": "2026-05-01T00:00:00Z", "@tag": "a/b", "ok": 1, "bad name": 2}])
    assert batch.rows == [] and batch.events == [] and len(batch.rejects) == 1


def test_a_payload_that_is_not_an_array_is_rejected_whole():
    batch = run('{"@t": "obd.bat"}')
    assert batch.rows == [] and [r[5] for r in batch.rejects] == ["body is not a JSON array of records"]


def test_the_sending_device_is_noted_as_seen_and_a_write_key_upload_has_no_device():
    assert run([], device="car1").seen == {(7, "car1"): NOW}
    batch = run([{"@t": "obd.bat", "@ts": "2026-05-01T00:00:00Z", "level": 3}], device=None)
    assert batch.seen == {} and {row[1] for row in batch.rows} == {""}


def test_variable_names_stay_right_when_the_kept_names_are_dropped(monkeypatch):
    """Workers keep each `type.field` name they checked (a device repeats a few); past a bound they drop them all and
    start again, and the names made after that are the same. A name refused is refused every time."""
    monkeypatch.setattr(autopi.VARIABLES, "most", 3)
    records = [{"@t": f"t{i % 2}", "@ts": f"2026-05-01T00:00:{i:02d}Z", f"f{i % 5}": i} for i in range(40)]
    batch = run(records)
    assert [row.variable for row in batch.rows] == [f"t{i % 2}.f{i % 5}" for i in range(40)]
    assert [row.v_int for row in batch.rows] == list(range(40))
    assert 0 < len(autopi.VARIABLES) <= 3
    bad = [{"@t": "obd.bat", "@ts": f"2026-05-01T00:00:0{i}Z", "bad name": i, "ok": i} for i in range(2)]
    batch = run(bad)
    assert batch.rows == [] and len(batch.rejects) == 2


# Records as uploads repeat them: a few types and fields, so shapes recur (the laid-out path), with every kind of
# value and time the general path must decide on, and now and then something that is not a record at all.
TIMES = st.sampled_from(
    [
        "2026-05-01T00:00:00Z",
        "2026-05-01T00:00:00.123456+02:00",
        "2026-05-01T00:00:01",
        "2026-05-01 00:00:02z",
        " 2026-05-01T00:00:03Z",
        "1999-12-31T23:59:59Z",
        "2030-01-01T00:00:00Z",
        "yesterday",
        "",
    ]
) | st.integers(0, 2**40)
VALUES = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**70), 2**70)
    | st.none()
    | st.booleans()
    | st.text(max_size=3)
    | st.lists(st.integers(0, 3), max_size=2)
    | st.dictionaries(st.sampled_from(["z", "bad name"]), st.integers(0, 3), max_size=2)
)
FIELDS = st.dictionaries(st.sampled_from(["voltage", "level", "rpm", "bad name", "@tag", "a.b"]), VALUES, max_size=3)
RECORDS = st.builds(
    lambda kind, time, fields, keep: {
        **({"@t": kind} if keep != "no type" else {}),
        **({"@ts": time} if keep != "no time" else {}),
        **fields,
    },
    st.sampled_from(["obd.bat", "obd.rpm", "event.system.power", "", "t" * 201]) | st.integers(0, 3),
    TIMES,
    FIELDS,
    st.sampled_from(["both", "both", "both", "no type", "no time"]),
) | st.sampled_from([None, 5, "text", [1]])


def decided(batch) -> tuple:
    """What storing a batch keeps: the rows (one record's rows may come in any order; across records the later
    wins), the events and the rejects."""
    rows = sorted(batch.rows, key=repr)
    last = {row[:5]: row for row in batch.rows}
    return rows, last, batch.events, batch.rejects


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(RECORDS, max_size=12),
    known=st.none() | st.just(frozenset({"obd.bat.voltage", "obd.rpm.rpm"})),
    device=st.sampled_from(["car1", "", "d" * 201]),
)
def test_laid_out_records_are_stored_exactly_as_the_general_path_would(records, known, device):
    """The layouts an upload's recurring record shapes take are a shortcut only: every upload gives the rows,
    events and rejects that taking each record through add_record gives."""
    params = None if known is None else {"variables": sorted(known)}
    message = make_message(
        "autopi", 7, json.dumps(records), source="http", device=device, received_at=RECEIVED, params=params
    )
    context = Context(window=TimeWindow(2000, 86_400, now=NOW))
    fast = normalize([message], context)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(autopi, "layout", lambda record, *_: autopi.Layout(len(record), None))
        general = normalize([message], context)
    assert decided(fast) == decided(general)


def test_a_recurring_shape_with_other_keys_or_values_is_not_taken_for_the_laid_out_one():
    """The second record has the first's type and key count but another field; the third a string where the first
    had a number; the fourth a null. Each is stored as it is."""
    batch = run(
        [
            {"@t": "obd.bat", "@ts": "2026-05-01T00:00:00Z", "voltage": 12.5},
            {"@t": "obd.bat", "@ts": "2026-05-01T00:00:01Z", "level": 80},
            {"@t": "obd.bat", "@ts": "2026-05-01T00:00:02Z", "voltage": "low"},
            {"@t": "obd.bat", "@ts": "2026-05-01T00:00:03Z", "voltage": None},
            {"@t": "obd.bat", "@ts": "2026-05-01T00:00:04Z", "voltage": 12.25},
        ]
    )
    assert [(row.variable, row.time.second, row.v_num, row.v_int, row.v_str) for row in batch.rows] == [
        ("obd.bat.voltage", 0, 12.5, None, None),
        ("obd.bat.level", 1, None, 80, None),
        ("obd.bat.voltage", 2, None, None, "low"),
        ("obd.bat.voltage", 4, 12.25, None, None),
    ]
    assert batch.rejects == []

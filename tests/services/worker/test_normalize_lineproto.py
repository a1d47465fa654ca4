"""The line protocol normalizer, pure: a queue message in, reading rows and rejects out."""

from __future__ import annotations

from datetime import UTC, datetime

from services.worker.normalize import normalize, rows
from services.worker.normalize.rows import Context
from shared.queue import make_message
from shared.values import TimeWindow

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(text: str, precision: str = "ns", device: str | None = None):
    message = make_message(
        "lineproto", 7, text, source="http", device=device, received_at=NOW.timestamp(), params={"precision": precision}
    )
    return normalize([message], Context(window=TimeWindow(2000, 86_400, now=NOW)))


def test_fields_become_measurement_dot_field_with_types_and_tags():
    batch = run('cpu,region=eu,host=a idle=98.5,procs=12i,up=true,state="ok" 1772366400123456789')
    moment = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    tags = '{"host":"a","region":"eu"}'
    assert sorted(batch.rows) == sorted(
        [
            (7, "", "cpu.idle", tags, moment, 98.5, None, None, None, None),
            (7, "", "cpu.procs", tags, moment, None, 12, None, None, None),
            (7, "", "cpu.up", tags, moment, None, None, None, True, None),
            (7, "", "cpu.state", tags, moment, None, None, "ok", None, None),
        ]
    )
    assert batch.rejects == []


def test_tag_order_does_not_change_the_series():
    batch = run("m,a=1,b=2 v=1 1772366400000000000\nm,b=2,a=1 v=2 1772366401000000000")
    assert {row.tags for row in batch.rows} == {'{"a":"1","b":"2"}'}


def test_no_timestamp_gets_the_receive_time_and_device_comes_from_the_message():
    batch = run("m v=1\nm w=2i", device="sensor-1")
    assert [(row.device, row.variable, row.time) for row in batch.rows] == [
        ("sensor-1", "m.v", NOW),
        ("sensor-1", "m.w", NOW),
    ]
    assert [row[3] for row in batch.rows] == ["{}", "{}"]


def test_precision_scales_timestamps():
    batch = run("m v=1 1772366400\nm v=2 1772366401", precision="s")
    assert [row[4] for row in batch.rows] == [NOW, datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)]


def test_bad_line_is_rejected_alone_with_its_number():
    batch = run("m v=1 1772366400000000000\nm v= 1772366400000000000\nm v=3 1000")
    assert [row[5] for row in batch.rows] == [1.0]
    reasons = sorted(reject[5] for reject in batch.rejects)
    assert reasons[0].startswith("line 2: missing field value")
    assert reasons[1].startswith("line 3: time 1970-01-01T00:00:00.000001Z is before the accepted range")
    assert {reject[6] for reject in batch.rejects} == {"m v= 1772366400000000000", "m v=3 1000"}


def test_unknown_precision_rejects_the_message():
    batch = run("m v=1 1", precision="d")
    assert batch.rows == [] and batch.rejects[0][5] == "unknown precision 'd'"


def test_variable_names_stay_right_when_the_kept_names_are_dropped(monkeypatch):
    """Workers keep each `measurement.field` name they made (a batch repeats a few); past a bound they drop them all
    and start again, and the names made after that are the same."""
    monkeypatch.setattr(rows.PREFIXED, "most", 3)
    lines = "\n".join(f"m{i % 2} f{i % 5}={i} {1772366400000000000 + i}" for i in range(40))
    batch = run(lines)
    assert [row.variable for row in batch.rows] == [f"m{i % 2}.f{i % 5}" for i in range(40)]
    assert [row.v_num for row in batch.rows] == [float(i) for i in range(40)]
    assert 0 < len(rows.PREFIXED) <= 3
    long_name = "f" * 199  # m.f...: 201 characters, refused on each line (a refused name is not kept)
    batch = run(f"m {long_name}=1 1772366400000000000\nm {long_name}=2 1772366401000000000\nm ok=3 1772366402000000000")
    assert [row.variable for row in batch.rows] == ["m.ok"]
    assert len(batch.rejects) == 2

"""Packing cold readings: what is packed reads back identical, and writes stay exactly-once over packed data."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.worker import packing
from services.worker.normalize.rows import Batch
from services.worker.retention import apply_retention
from services.worker.storage import Writer
from tests.support.factories import make_dataset

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
AFTER = timedelta(days=2)
BIG = 2**53 + 1  # not a double: must come back exact

READ_ALL = """
select s.device, s.variable, s.tags::text, r.time, r.v_num, r.v_int, r.v_str, r.v_bool, r.entry_id
from series s cross join lateral readings_in(array[s.id], '-infinity', 'infinity') r
where s.dataset_id = %s order by 1, 2, 3, 4
"""


def write(settings, rows) -> int:
    """Store (dataset, device, variable, tags JSON, time, value, entry_id) rows through the worker's writer."""
    batch = Batch()
    for row in rows:
        batch.add(*row)
    writer = Writer(settings)
    try:
        return writer.write(batch).stored
    finally:
        writer.close()


def read_all(conn, dataset_id):
    return conn.execute(READ_ALL, (dataset_id,)).fetchall()


def hot_count(conn):
    return conn.execute("select count(*) from readings").fetchone()[0]


def packed_count(conn):
    return conn.execute("select coalesce(sum(n), 0) from readings_packed").fetchone()[0]


def sample(dataset_id):
    """Every value type, devices and tags, across a month boundary (October wholly old, November partly)."""
    rows = []
    start = datetime(2026, 10, 29, 23, 0, 0, 123456, tzinfo=UTC)
    for i in range(3000):
        moment = start + timedelta(seconds=599 * i)
        value = [i / 7, BIG + i, f"s{i}\u00e9", i % 2 == 0, -i][i % 5]
        rows.append(
            (
                dataset_id,
                ["", "shed"][i % 2],
                "temperature",
                ["{}", '{"room": "a"}'][i % 3 % 2],
                moment,
                value,
                i + 1 if i % 4 else None,
            )
        )
    return rows


@pytest.fixture
def conn(settings):
    with psycopg.connect(settings.database_url, autocommit=True) as connection:
        yield connection


def api_read(client, dataset):
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, "limit": 50_000})
    assert response.status_code == 200, response.text
    return response.json()


def test_packed_readings_read_back_identical(client, settings, conn):
    dataset = make_dataset(settings)
    rows = sample(dataset.id)
    recent = [(dataset.id, "", "temperature", "{}", NOW - timedelta(hours=1), 1.5, None)]
    assert write(settings, rows + recent) == len(rows) + 1
    before, through_api = read_all(conn, dataset.id), api_read(client, dataset)
    packed = packing.pack(conn, AFTER, now=NOW)
    assert packed == len(rows)  # everything but the recent reading
    assert read_all(conn, dataset.id) == before
    assert hot_count(conn) == 1 and packed_count(conn) == len(rows)
    # October is wholly past the cutoff: packed and truncated, no dead rows left behind
    assert conn.execute("select pg_relation_size('readings_m20261001')").fetchone()[0] == 0
    assert packing.pack(conn, AFTER, now=NOW) == 0  # nothing left to pack
    assert BIG + 1 in [r[5] for r in read_all(conn, dataset.id)]
    assert api_read(client, dataset) == through_api and len(through_api["rows"]) == len(rows) + 1


def test_charts_are_the_same_once_packed(client, settings, conn):
    dataset = make_dataset(settings)
    start = datetime(2026, 11, 10, tzinfo=UTC)
    write(
        settings,
        [
            (dataset.id, dev, "temperature", "{}", start + timedelta(minutes=i), i * 1.5 + len(dev), None)
            for i in range(3000)
            for dev in ("", "shed")
        ],
    )  # two series, raw and bucketed ranges
    charts = [{"range": r, "end": (start + timedelta(days=2)).isoformat()} for r in ("hour", "day", "week")]
    read = [
        client.get(f"/api/v1/datasets/{dataset.id}/chart", params={"key": dataset.read_key, **c}).json() for c in charts
    ]
    assert packing.pack(conn, AFTER, now=NOW) == 6000
    assert [
        client.get(f"/api/v1/datasets/{dataset.id}/chart", params={"key": dataset.read_key, **c}).json() for c in charts
    ] == read
    assert {line["bucket_s"] for chart in read for line in chart["lines"]} >= {None, 900}


def test_readers_of_the_newest_values_see_packed_ones(settings, conn):
    dataset = make_dataset(settings)
    rows = sample(dataset.id)
    write(settings, rows)
    query = (
        "select r.time, r.v_int from series s cross join lateral readings_last(s.id, %s, %s, 3) r "
        "where s.dataset_id = %s and s.device = 'shed' and s.tags = '{}' order by r.time desc"
    )
    window = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC), dataset.id)
    before = conn.execute(query, window).fetchall()
    packing.pack(conn, AFTER, now=NOW)
    assert hot_count(conn) == 0
    assert conn.execute(query, window).fetchall() == before and len(before) == 3


def test_resend_of_packed_readings_is_stored_once(settings, conn):
    dataset = make_dataset(settings)
    rows = sample(dataset.id)
    write(settings, rows)
    packing.pack(conn, AFTER, now=NOW)
    before = read_all(conn, dataset.id)
    assert write(settings, rows[100:900]) == 0
    assert read_all(conn, dataset.id) == before
    assert conn.execute("select entry_count from datasets where id = %s", (dataset.id,)).fetchone()[0] == len(rows)
    packing.pack(conn, AFTER, now=NOW)  # and packed again, still once
    assert read_all(conn, dataset.id) == before and hot_count(conn) == 0


def test_a_write_over_a_packed_reading_behaves_as_over_a_hot_one(settings, conn):
    """Whatever the insert does with a second value at a stored time (skip or replace), packing changes nothing."""
    plain, packed = make_dataset(settings, name="plain"), make_dataset(settings, name="packed")
    first = [
        (None, "", "temperature", "{}", datetime(2026, 11, 3, 10, tzinfo=UTC) + timedelta(minutes=i), i, 7)
        for i in range(50)
    ]
    second = [(None, "", "temperature", "{}", row[4], f"new{i}", 8) for i, row in enumerate(first[10:20])]
    for dataset in (plain, packed):
        write(settings, [(dataset.id, *row[1:]) for row in first])
    packing.pack(conn, AFTER, now=NOW)
    assert packed_count(conn) == 100
    for dataset in (plain, packed):
        write(settings, [(dataset.id, *row[1:]) for row in second])
    assert read_all(conn, packed.id) == read_all(conn, plain.id)
    assert len(read_all(conn, packed.id)) == 50


def test_late_reading_into_a_packed_day_is_readable_once(settings, conn):
    dataset = make_dataset(settings)
    day = datetime(2026, 11, 5, tzinfo=UTC)
    write(
        settings, [(dataset.id, "", "temperature", "{}", day + timedelta(minutes=i), i, None) for i in range(0, 600, 2)]
    )
    packing.pack(conn, AFTER, now=NOW)
    late = [(dataset.id, "", "temperature", "{}", day + timedelta(minutes=m), -m, None) for m in (1, 301, 900)]
    assert write(settings, late) == 3  # inside the pack's span, and after it
    assert write(settings, late) == 0
    values = [r[5] for r in read_all(conn, dataset.id)]
    assert len(values) == 303 and values.count(-301) == 1 and values.count(-900) == 1
    packing.pack(conn, AFTER, now=NOW)
    assert hot_count(conn) == 0 and [r[5] for r in read_all(conn, dataset.id)] == values
    # a series' packs of a day never overlap (readings_last relies on it)
    assert (
        conn.execute(
            "select count(*) from readings_packed a join readings_packed b on a.series_id = b.series_id "
            "and a.start < b.start and a.stop >= b.start"
        ).fetchone()[0]
        == 0
    )


def test_a_write_waits_for_packing_of_its_day_and_then_sees_the_packs(settings, conn):
    dataset = make_dataset(settings)
    day = datetime(2026, 11, 7, tzinfo=UTC)
    rows = [(dataset.id, "", "temperature", "{}", day + timedelta(seconds=i), i, None) for i in range(200)]
    write(settings, rows)
    with psycopg.connect(settings.database_url) as packer:  # packing, held open mid-transaction
        packer.execute("select pg_advisory_xact_lock(%s, %s)", (packing.DAY_LOCK, packing.day_number(day)))
        packer.execute(packing._pack_sql(packing.DELETE_DAY), {"lo": day, "hi": day + timedelta(days=1)})
        stored: list[int] = []
        resend = threading.Thread(target=lambda: stored.append(write(settings, rows[50:150])))
        resend.start()
        deadline = time.monotonic() + 30
        while not conn.execute(
            "select exists (select from pg_locks l join pg_database d on d.oid = l.database "
            "where l.locktype = 'advisory' and not l.granted and d.datname = current_database())"
        ).fetchone()[0]:
            assert resend.is_alive() and time.monotonic() < deadline, "the write did not wait for the day's lock"
            time.sleep(0.02)
        assert resend.is_alive()  # blocked on the day's lock, not writing past the pack being made
        packer.commit()
        resend.join(timeout=30)
    assert stored == [0]
    assert len(read_all(conn, dataset.id)) == 200


def test_packing_concurrent_with_writes_into_the_same_days_loses_and_duplicates_nothing(settings, conn):
    dataset = make_dataset(settings)
    day = datetime(2026, 11, 10, tzinfo=UTC)
    batches = [
        [
            (dataset.id, f"d{b % 3}", "temperature", "{}", day + timedelta(minutes=7 * i + b), b * 1000 + i, None)
            for i in range(300)
        ]
        for b in range(12)
    ]
    done = threading.Event()
    errors: list[BaseException] = []
    packed_runs: list[int] = []

    def keep_packing():
        with psycopg.connect(settings.database_url, autocommit=True) as own:
            while not done.is_set():
                try:
                    packed_runs.append(packing.pack(own, AFTER, now=NOW))
                except BaseException as error:  # reported by the test below
                    errors.append(error)
                    return

    packer = threading.Thread(target=keep_packing)
    packer.start()
    try:
        for batch in batches:
            write(settings, batch)
            write(settings, batch[::3])  # resends, some of them into packs
    finally:
        done.set()
        packer.join(timeout=60)
    assert not errors and sum(1 for n in packed_runs if n) >= 2  # packing ran between the writes
    expected = sorted((row[1], row[4], row[5]) for batch in batches for row in batch)
    got = sorted((r[0], r[3], r[5]) for r in read_all(conn, dataset.id))
    assert got == expected
    assert conn.execute("select entry_count from datasets where id = %s", (dataset.id,)).fetchone()[0] == len(expected)


def test_retention_removes_packed_readings(settings, conn):
    dataset, kept = make_dataset(settings, name="limited"), make_dataset(settings, name="kept")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for target in (dataset, kept):
        write(
            settings,
            [(target.id, "", "temperature", "{}", start + timedelta(minutes=10 * i), i, None) for i in range(1000)],
        )  # about a week
    packing.pack(conn, AFTER, now=NOW)
    assert hot_count(conn) == 0
    conn.execute("update datasets set retention_days = 25 where id = %s", (dataset.id,))
    cutoff = NOW - timedelta(days=25)  # Nov 4, 12:00: inside a pack
    assert apply_retention(conn, now=NOW) == {
        dataset.id: sum(1 for i in range(1000) if start + timedelta(minutes=10 * i) < cutoff)
    }
    times = [r[3] for r in read_all(conn, dataset.id)]
    assert (
        times
        and min(times) >= cutoff
        and len(times) == sum(1 for i in range(1000) if start + timedelta(minutes=10 * i) >= cutoff)
    )
    assert conn.execute("select entry_count from datasets where id = %s", (dataset.id,)).fetchone()[0] == len(times)
    assert len(read_all(conn, kept.id)) == 1000


def test_bytes_per_value_within_60_with_packing_as_data_arrives(settings, conn):
    """200,000 values (200 series, one value each 40 minutes for 28 days) written day by day, maintenance packing
    after each day: all partitions, packs, their indexes and TOAST, at most 60 bytes a value (hot rows alone: ~87)."""
    dataset = make_dataset(settings, variables=tuple(f"v{i}" for i in range(20)))
    start, per_day, values = NOW - timedelta(days=28), 36, 0
    for day in range(28):
        values += write(
            settings,
            [
                (dataset.id, f"dev{d}", f"v{v}", "{}", start + timedelta(minutes=40 * m), (m * 7 + v) % 1000 / 10, None)
                for m in range(day * per_day, (day + 1) * per_day)
                for d in range(10)
                for v in range(20)
            ],
        )
        packing.pack(conn, AFTER, now=start + timedelta(days=day + 1))
    assert values == 201_600 and packed_count(conn) > 150_000
    size = conn.execute(packing.SIZE).fetchone()[0]
    assert size / values <= 60, f"{size / values:.1f} bytes per value"


def test_a_resend_spanning_many_months_is_stored_once(settings, conn):
    """A batch spanning more than 31 days takes the one "all days" lock instead of a lock per day."""
    dataset = make_dataset(settings)
    rows = [
        (dataset.id, "", "temperature", "{}", datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=9 * i), i, None)
        for i in range(60)
    ]
    write(settings, rows)
    packing.pack(conn, AFTER, now=NOW)
    assert hot_count(conn) == 0
    assert write(settings, [*rows[::7], (dataset.id, "", "temperature", "{}", NOW, 99, None)]) == 1
    assert len(read_all(conn, dataset.id)) == 61


def test_deleting_a_dataset_deletes_its_packed_readings(settings, conn):
    from shared.datasets import delete_dataset
    from shared.db import make_engine, make_session_factory, transaction
    from shared.models import Dataset

    gone, kept = make_dataset(settings, name="gone"), make_dataset(settings, name="kept")
    for target in (gone, kept):
        write(settings, sample(target.id)[:500])
    packing.pack(conn, AFTER, now=NOW)
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    try:
        with transaction(make_session_factory(engine)) as session:
            delete_dataset(session, session.get(Dataset, gone.id))
    finally:
        engine.dispose()
    assert packed_count(conn) == 500 and len(read_all(conn, kept.id)) == 500


def test_thingspeak_reads_are_the_same_once_packed(client, settings, conn):
    from tests.services.test_thingspeak_reads import get, seeded

    dataset = seeded(client, settings)  # entries of 2026-03-01, with entry ids, a status and a missing field
    paths = [
        ("feeds.json", {}),
        ("feeds.json", {"average": 20}),
        ("feeds/last.json", {}),
        ("fields/2/last.json", {}),
        ("feeds.json", {"results": 2}),
    ]
    before = [get(client, dataset, path, **params).json() for path, params in paths]
    assert packing.pack(conn, AFTER, now=NOW) > 0 and hot_count(conn) == 0
    assert [get(client, dataset, path, **params).json() for path, params in paths] == before


def test_an_upsert_after_unpacking_replaces_a_packed_value(settings, conn):
    """The write path's hook leaves a packed value as a hot row, so a last-write-wins insert replaces it."""
    from services.worker.storage import STAGING_DDL

    dataset = make_dataset(settings)
    moment = datetime(2026, 11, 4, 8, tzinfo=UTC)
    write(settings, [(dataset.id, "", "temperature", "{}", moment + timedelta(minutes=i), i, None) for i in range(30)])
    packing.pack(conn, AFTER, now=NOW)
    series_id = conn.execute("select id from series where dataset_id = %s", (dataset.id,)).fetchone()[0]
    conn.execute(STAGING_DDL)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "insert into staging_readings (series_id, time, v_str) values (%s, %s, 'replaced')",
            (series_id, moment + timedelta(minutes=7)),
        )
        assert packing.unpack_colliding(cur) == 30  # the whole pack is hot again
        cur.execute(
            "insert into readings (series_id, time, v_str) select series_id, time, v_str from staging_readings "
            "on conflict (series_id, time) do update set v_num = null, v_int = null, v_str = excluded.v_str"
        )
    values = [(r[3], r[5], r[6]) for r in read_all(conn, dataset.id)]
    assert len(values) == 30 and values[7] == (moment + timedelta(minutes=7), None, "replaced")
    assert packed_count(conn) == 0
    packing.pack(conn, AFTER, now=NOW)
    assert [(r[3], r[5], r[6]) for r in read_all(conn, dataset.id)] == values and hot_count(conn) == 0

"""The benchmarks' bulk loader stores exactly what the worker's writer and its packing would for the same readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from bench import bulk_load
from services.worker import packing
from services.worker.normalize.rows import NO_TAGS, Batch
from services.worker.storage import Writer
from shared.rollups import STATE_COLUMNS
from tests.support.factories import make_dataset

# A partial day ending in March (another monthly partition), a whole day of packs, three hours left hot.
START = datetime(2026, 3, 31, 22, 59, 30, tzinfo=UTC)
NOW = END = datetime(2026, 4, 2, 3, tzinfo=UTC)
AFTER = timedelta(hours=3)
VARIABLES = ("value", "value2")

STORED = {
    "packs": "select start, stop, n, times, v_num, v_int, v_str, v_bool, entry_ids, pg_column_size(times), "
    "pg_column_size(v_num) from readings_packed where series_id = %s order by start",
    "hot": "select time, v_num, v_int, v_str, v_bool, entry_id from readings where series_id = %s order by time",
    "rollup_1m": f"select bucket, {STATE_COLUMNS} from rollup_1m where series_id = %s order by bucket",
    "rollup_1h": f"select bucket, {STATE_COLUMNS} from rollup_1h where series_id = %s order by bucket",
}


def through_worker(settings, dataset_id: int) -> None:
    """The same readings as native JSON would bring them: batches through Writer.write, then packing."""
    total = int((END - START).total_seconds())
    writer = Writer(settings)
    try:
        for lo in range(0, total, 7_000):  # batch edges fall inside minutes: rollup merges are exercised
            rows = [
                (dataset_id, "", variable, NO_TAGS, START + timedelta(seconds=i), bulk_load.value(i, k))
                for i in range(lo, min(total, lo + 7_000))
                for k, variable in enumerate(VARIABLES)
            ]
            batch = Batch()
            for row in rows:
                batch.add(*row)
            writer.write(batch)
    finally:
        writer.close()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        packing.pack(conn, AFTER, now=NOW)


def stored(conn, dataset_id: int) -> dict:
    out = {}
    for variable in VARIABLES:
        [sid] = conn.execute(
            "select id from series where dataset_id = %s and device = '' and variable = %s and tags = '{}'",
            (dataset_id, variable),
        ).fetchone()
        out[variable] = {name: conn.execute(query, (sid,)).fetchall() for name, query in STORED.items()}
    out["dataset"] = conn.execute(
        "select entry_count, last_entry_at, last_entry_id from datasets where id = %s", (dataset_id,)
    ).fetchone()
    return out


def test_bulk_load_matches_the_worker_and_checks_out(settings, monkeypatch) -> None:
    monkeypatch.setattr(bulk_load, "BLOCK_DAYS", 1)  # several blocks in a short span
    worker = make_dataset(settings, name="through the worker", variables=VARIABLES)
    bulk = make_dataset(settings, name="bulk", variables=VARIABLES)
    through_worker(settings, worker.id)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        loaded = bulk_load.load(
            conn, bulk.id, VARIABLES, START, END, now=NOW, pack_after=AFTER, partition_interval="month"
        )
        expected, got = stored(conn, worker.id), stored(conn, bulk.id)
        for variable in VARIABLES:
            for name in STORED:
                assert got[variable][name] == expected[variable][name], (variable, name)
        assert got["dataset"] == expected["dataset"]
        # the shape the comparison covered: packs on both sides of the month, runs of PACK_MAX, hot rows after
        packs = got["value"]["packs"]
        assert packs[0][0] == START and packs[-1][1] == datetime(2026, 4, 1, 23, 59, 59, tzinfo=UTC)
        assert {p[2] for p in packs} >= {packing.PACK_MAX} and len(packs) == 4 + 85
        assert len(got["value"]["hot"]) == 3 * 3600 and loaded.per_series == 3630 + 86_400 + 3 * 3600
        assert len(got["value"]["rollup_1h"]) == 2 + 24 + 3

        figures = bulk_load.check(conn, loaded, samples=3)
        assert figures["buckets_compared"] > 2 * 2 * 4

        # check() notices a rollup that disagrees with the readings, and a reading that went missing
        conn.execute(
            "update rollup_1h set max_num = max_num + 1 where series_id = %s and bucket = %s",
            (loaded.series["value2"], datetime(2026, 4, 2, 2, tzinfo=UTC)),
        )
        with pytest.raises(AssertionError, match="rollup_1h 2026-04-02 02:00 differs"):
            bulk_load.check(conn, loaded, samples=0)
        conn.execute(
            "delete from readings where series_id = %s and time = %s",
            (loaded.series["value"], START + timedelta(days=1, hours=2)),
        )
        with pytest.raises(AssertionError, match="readings_in"):
            bulk_load.check(conn, loaded, samples=0)

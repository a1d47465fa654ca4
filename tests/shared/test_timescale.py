"""The TimescaleDB branch of the migration, checked against ../shared/tools/timescale-lite (TimescaleDB 2.x).

timescale-lite serves one connection at a time and breaks on COPY, so rows go in with INSERT here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from services.worker.rollups import INSERT_READINGS, REPLACE_READINGS, write_readings
from services.worker.storage import STAGING_DDL
from shared.config import Settings
from shared.migrate import upgrade
from tests.support.processes import ROOT
from tests.support.services import free_port

# the repository's sibling ../shared; from a git worktree under <repo>/../wt/<name>, ../../shared
TOOL = next(
    (
        base / "shared" / "tools" / "timescale-lite"
        for base in (ROOT.parent, ROOT.parent.parent)
        if (base / "shared" / "tools" / "timescale-lite" / "start").exists()
    ),
    ROOT.parent / "shared" / "tools" / "timescale-lite",
)


def require_tool() -> None:
    if not (TOOL / "start").exists():
        pytest.skip(f"timescale-lite not found at {TOOL} (the repository's sibling ../shared is missing)")
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"timescale-lite needs {' and '.join(missing)}, which this machine lacks")


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """timescale-lite's npm packages, installed once for every server this module starts."""
    require_tool()
    home = tmp_path_factory.mktemp("timescale-lite-modules")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(TOOL / name, home / name)
    installed = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    return home / "node_modules"


@contextmanager
def timescale_lite(node_modules: Path, state: Path) -> Iterator[str]:
    """A fresh timescale-lite server on a free port (state under `state`); yields its DSN."""
    state.mkdir(parents=True)
    (state / "node_modules").symlink_to(node_modules, target_is_directory=True)
    started = subprocess.run(
        [str(TOOL / "start"), str(free_port())],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "TIMESCALE_LITE_HOME": str(state)},
    )
    assert started.returncode == 0, started.stderr
    pid = int((state / "pid").read_text())
    try:
        yield started.stdout.strip()
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)


@pytest.fixture(scope="module")
def migrated_on(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A timescale-lite server migrated with OWNSTREAM_TIMESCALEDB=on (twice: the second run must be harmless)."""
    with timescale_lite(node_modules, tmp_path_factory.mktemp("on") / "state") as dsn:
        settings = lite_settings(dsn, "on")
        upgrade(settings)
        upgrade(settings)
        yield dsn


@pytest.fixture
def timescale_dsn(node_modules: Path, tmp_path: Path) -> Iterator[str]:
    with timescale_lite(node_modules, tmp_path / "state") as dsn:
        yield dsn


def lite_settings(dsn: str, timescaledb: str) -> Settings:
    return Settings(database_url=dsn, timescaledb=timescaledb, environment="test")


def fetch(dsn: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def test_timescaledb_on_makes_a_compressed_hypertable(migrated_on):
    timescale_dsn = migrated_on

    [(mode,)] = fetch(timescale_dsn, "select value from ownstream_meta where key = 'storage_mode'")
    assert mode == "timescaledb"
    [(compressed,)] = fetch(
        timescale_dsn,
        "select compression_enabled from timescaledb_information.hypertables where hypertable_name = 'readings'",
    )
    assert compressed is True
    [(column, interval)] = fetch(
        timescale_dsn,
        "select column_name, time_interval from timescaledb_information.dimensions where hypertable_name = 'readings'",
    )
    assert (column, interval) == ("time", timedelta(days=7))
    settings_rows = fetch(
        timescale_dsn,
        "select attname, segmentby_column_index, orderby_column_index, orderby_asc "
        "from timescaledb_information.compression_settings "
        "where hypertable_name = 'readings' order by attname",
    )
    assert settings_rows == [("series_id", 1, None, None), ("time", None, 1, False)]
    [(config,)] = fetch(
        timescale_dsn,
        "select config from timescaledb_information.jobs "
        "where proc_name = 'policy_compression' and hypertable_name = 'readings'",
    )
    assert config["compress_after"] == "30 days"


def test_worker_insert_is_idempotent_on_a_hypertable_with_compressed_chunks(migrated_on):
    timescale_dsn = migrated_on
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with psycopg.connect(timescale_dsn, autocommit=True) as conn:
        conn.execute("insert into users (username, password_hash) values ('alice', 'x')")
        conn.execute("insert into datasets (owner_id, name) values (1, 'Weather')")
        [(series_id,)] = conn.execute(
            "insert into series (dataset_id, variable) values (1, 'temperature') returning id"
        ).fetchall()
        conn.execute(STAGING_DDL)
        rows = [(series_id, start + timedelta(hours=i), float(i), None, None, None, None, i) for i in range(48)]

        met_stored = []

        def write() -> list[tuple]:  # the worker's statements, with INSERT standing in for COPY
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany("insert into staging_readings values (%s, %s, %s, %s, %s, %s, %s, %s)", rows)
                inserted, met = write_readings(cur, False, len(rows), assume_new=True)
                met_stored.append(met)
                return inserted

        assert [(d, n) for d, n, *_ in write()] == [(1, 48)]
        chunks = conn.execute("select compress_chunk(c) from show_chunks('readings') c").fetchall()
        assert chunks
        [(compressed_chunks,)] = conn.execute(
            "select count(*) from timescaledb_information.chunks where hypertable_name = 'readings' and is_compressed"
        ).fetchall()
        assert compressed_chunks == len(chunks)
        assert write() == []  # a resend into compressed chunks stores nothing new
        [(count, total)] = conn.execute("select count(*), sum(v_num) from readings").fetchall()
        assert (count, total) == (48, sum(range(48)))
        rows[0] = (*rows[0][:2], 100.0, *rows[0][3:])  # a correction into a compressed chunk: the last write wins
        assert write() == []
        [(count, total)] = conn.execute("select count(*), sum(v_num) from readings").fetchall()
        assert (count, total) == (48, sum(range(48)) + 100)
        # written as new, then a stored key in a compressed chunk fails that statement and the usual one runs
        assert met_stored == [False, True, True]
        # readers go through readings_in / readings_last (migration 0003), the hypertable alone here
        first_day = conn.execute(
            "select count(*), sum(v_num) from readings_in(array[%s]::bigint[], %s, %s)",
            (series_id, start, start + timedelta(days=1)),
        ).fetchall()
        assert first_day == [(24, sum(range(24)) + 100)]
        assert [
            r[0]
            for r in conn.execute(
                "select v_num from readings_last(%s, '-infinity', 'infinity', 2)", (series_id,)
            ).fetchall()
        ] == [47.0, 46.0]


@pytest.mark.parametrize(("wanted", "mode"), [("auto", "timescaledb"), ("off", "partitioned")])
def test_timescaledb_setting_on_a_server_that_has_it(timescale_dsn, wanted, mode):
    upgrade(lite_settings(timescale_dsn, wanted))
    assert fetch(timescale_dsn, "select value from ownstream_meta where key = 'storage_mode'") == [(mode,)]
    installed = fetch(timescale_dsn, "select count(*) from pg_extension where extname = 'timescaledb'")[0][0]
    assert installed == (1 if mode == "timescaledb" else 0)
    kind = fetch(timescale_dsn, "select relkind from pg_class where relname = 'readings'")[0][0]
    assert kind == ("r" if mode == "timescaledb" else "p")


@pytest.mark.timeout(900)  # timescale-lite is PostgreSQL in WebAssembly: slow on a busy machine
def test_continuous_aggregates_equal_raw_aggregation_and_answer_bucketed_queries(migrated_on):
    from services.api.query.buckets import AGGS, bucketed
    from shared.values import columns
    from tests.support.rollups import assert_rollups_exact, assert_same, history, raw_bucketed

    start = datetime(2025, 3, 1, 22, 7, 13, tzinfo=UTC)
    # no server-side prepared statements: timescale-lite is one session for every client, so names would clash
    with psycopg.connect(migrated_on, autocommit=True, prepare_threshold=None) as conn:
        [(user,)] = conn.execute("insert into users (username, password_hash) values ('carol', 'x') returning id")
        [(dataset,)] = conn.execute(
            "insert into datasets (owner_id, name) values (%s, 'Rollups') returning id", (user,)
        )
        ids = {
            v: conn.execute(
                "insert into series (dataset_id, variable) values (%s, %s) returning id", (dataset, v)
            ).fetchone()[0]
            for v in ("float", "int", "mixed")
        }
        readings = history(start, timedelta(hours=2), seed=3)
        conn.execute(STAGING_DDL)

        def write(batch: list) -> None:  # the worker's statements, with INSERT standing in for COPY
            rows = [(ids[v], t, *columns(value), None, n) for n, (v, t, value) in enumerate(batch)]
            with conn.transaction():
                conn.execute(
                    "insert into staging_readings select * from unnest(%s::int8[], %s::timestamptz[], "
                    "%s::float8[], %s::int8[], %s::text[], %s::bool[], %s::int8[], %s::int4[])",
                    [list(column) for column in zip(*rows, strict=True)],
                )
                conn.execute(INSERT_READINGS)
                conn.execute(REPLACE_READINGS)

        late, recent = readings[::2], readings[1::2]
        write(recent)
        write(late)  # late data
        write(late[:40])  # resent
        write([(v, t, "text" if i % 3 else 2**60 + i) for i, (v, t, _) in enumerate(late[40:70])])  # corrected
        for view in ("rollup_1m", "rollup_1h"):
            conn.execute(f"call refresh_continuous_aggregate('{view}', null, null)")
        assert_rollups_exact(conn)
        # readings after the last refresh: real-time aggregation adds them (materialized_only = false)
        write([("float", start + timedelta(hours=3, seconds=s), s / 4) for s in range(0, 400, 3)])
        series = sorted(ids.values())
        for bucket in (
            timedelta(seconds=10),
            timedelta(minutes=1),
            timedelta(minutes=15),
            timedelta(hours=1),
            timedelta(days=1),
        ):
            for lo, hi in (
                (start - timedelta(hours=3), start + timedelta(hours=9)),
                (start + timedelta(minutes=3, seconds=1.5), start + timedelta(hours=3, minutes=2.25)),
            ):
                with conn.cursor() as cur:
                    expected = raw_bucketed(cur, series, lo, hi, bucket, AGGS)
                    assert_same(bucketed(cur, series, lo, hi, bucket, AGGS), expected, AGGS)

"""Migration 0002 on plain PostgreSQL: rollups of the readings already stored, and a clean downgrade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from alembic import command

from services.worker import partitions
from shared.config import Settings
from shared.migrate import alembic_config, upgrade
from tests.support import services as svc
from tests.support.rollups import assert_rollups_exact


def test_upgrade_rolls_up_existing_readings_and_downgrade_drops_the_tables():
    name = svc.next_database_name()
    settings = Settings(database_url=svc.recreate_database(name), timescaledb="off", environment="test")
    try:
        upgrade(settings, "0001")
        start = datetime(2026, 2, 27, 23, 50, tzinfo=UTC)
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            partitions.ensure_partitions(
                conn,
                {partitions.period_start(start, "month"), partitions.period_start(start + timedelta(days=3), "month")},
                "month",
                set(),
            )
            conn.execute("insert into users (username, password_hash) values ('alice', 'x')")
            conn.execute("insert into datasets (owner_id, name) values (1, 'Old')")
            conn.execute("insert into series (dataset_id, variable) values (1, 'a'), (1, 'b')")
            conn.execute(
                "insert into readings (series_id, time, v_num, v_int, v_str) "
                "select 1 + g %% 2, %s + g * interval '17 seconds', "
                "case when g %% 3 = 0 then g / 7.0 end, case when g %% 3 = 1 then g + 9007199254740993 end, "
                "case when g %% 3 = 2 then 'text' end from generate_series(0, 2000) g",
                (start,),
            )
        upgrade(settings)
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            assert conn.execute("select count(*) from rollup_1h").fetchone()[0] > 1
            assert_rollups_exact(conn)
        command.downgrade(alembic_config(settings), "0001")
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            assert conn.execute("select to_regclass('rollup_1m'), to_regclass('rollup_1h')").fetchone() == (None, None)
    finally:
        svc.drop_database(name)

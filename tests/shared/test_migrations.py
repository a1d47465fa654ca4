"""`ownstream migrate` on an empty plain PostgreSQL database: the whole schema, natively partitioned readings."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic.script import ScriptDirectory

from shared.config import Settings
from shared.migrate import alembic_config
from tests.support import services as svc
from tests.support.processes import run_cli

TABLES = {
    "alembic_version",
    "ownstream_meta",
    "users",
    "datasets",
    "variables",
    "dataset_keys",
    "devices",
    "user_tokens",
    "events",
    "series",
    "rejected_records",
    "readings",
}


@pytest.fixture
def empty_database() -> Iterator[str]:
    name = svc.next_database_name()
    yield svc.recreate_database(name)
    svc.drop_database(name)


def migrate(url: str, timescaledb: str):
    return run_cli(
        "migrate",
        env={"OWNSTREAM_DATABASE_URL": url, "OWNSTREAM_TIMESCALEDB": timescaledb, "OWNSTREAM_ENVIRONMENT": "test"},
    )


def schema(url: str) -> dict:
    with psycopg.connect(url) as conn:
        tables = {
            name
            for (name,) in conn.execute(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition"
            )
        }
        info = {"tables": tables}
        if "readings" in tables:
            kind = conn.execute("select relkind from pg_class where relname = 'readings'").fetchone()
            info["readings_kind"] = kind[0]
            info["mode"] = conn.execute("select value from ownstream_meta where key = 'storage_mode'").fetchone()[0]
            info["version"] = conn.execute("select version_num from alembic_version").fetchone()[0]
            info["readings_pk"] = conn.execute(
                "select pg_get_constraintdef(oid) from pg_constraint where conrelid = 'readings'::regclass "
                "and contype = 'p'"
            ).fetchone()[0]
    return info


def test_migrate_from_empty_on_plain_postgresql_twice(empty_database):
    first = migrate(empty_database, "auto")
    assert first.returncode == 0, first.stderr
    head = ScriptDirectory.from_config(alembic_config(Settings(database_url=empty_database))).get_current_head()
    after_first = schema(empty_database)
    assert after_first["tables"] >= TABLES
    assert after_first["readings_kind"] == "p"  # declarative range partitioning
    assert after_first["mode"] == "partitioned"
    assert after_first["version"] == head
    assert after_first["readings_pk"] == 'PRIMARY KEY (series_id, "time")'

    second = migrate(empty_database, "auto")
    assert second.returncode == 0, second.stderr
    assert schema(empty_database) == after_first


def test_timescaledb_on_without_the_extension_refuses_and_creates_nothing(empty_database):
    result = migrate(empty_database, "on")
    assert result.returncode == 1
    assert "OWNSTREAM_TIMESCALEDB=on" in result.stderr and "Traceback" not in result.stderr
    assert schema(empty_database)["tables"] == set()


def test_timescaledb_setting_refuses_unknown_values():
    with pytest.raises(ValueError, match="timescaledb"):
        Settings(timescaledb="maybe")

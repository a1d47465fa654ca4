"""`OWNSTREAM_TIMESCALEDB=auto` on a server that lists timescaledb but cannot create it falls back to partitions.

No package here installs TimescaleDB, and a private server with a fake control file would need a relocated copy
of the PostgreSQL binaries, so the database is made to look like such a server instead: a view shadows
pg_available_extensions (listing timescaledb), and an event trigger makes CREATE EXTENSION fail with
TimescaleDB's own "must be preloaded" error, as a server without shared_preload_libraries does.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.support import services as svc
from tests.support.processes import run_cli

PRELOAD_ERROR = 'extension "timescaledb" must be preloaded'


@pytest.fixture
def listed_not_preloaded() -> Iterator[str]:
    name = svc.next_database_name()
    url = svc.recreate_database(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "create view public.pg_available_extensions as select 'timescaledb'::name as name, "
            "'2.23.0'::text as default_version, null::text as installed_version, ''::text as comment"
        )
        conn.execute(f"alter database {name} set search_path = public, pg_catalog")
        conn.execute(f"""
            create function public.refuse_timescaledb() returns event_trigger language plpgsql as $$
            begin
                raise exception '{PRELOAD_ERROR}'
                    using hint = 'Please preload the timescaledb library via shared_preload_libraries.';
            end $$""")
        conn.execute(
            "create event trigger refuse_timescaledb on ddl_command_start when tag in ('CREATE EXTENSION') "
            "execute function public.refuse_timescaledb()"
        )
    yield url
    svc.drop_database(name)


def migrate(url: str, timescaledb: str):
    return run_cli(
        "migrate",
        env={"OWNSTREAM_DATABASE_URL": url, "OWNSTREAM_TIMESCALEDB": timescaledb, "OWNSTREAM_ENVIRONMENT": "test"},
    )


def test_the_fake_server_behaves_like_one_without_preload(listed_not_preloaded):
    with psycopg.connect(listed_not_preloaded) as conn:
        assert conn.execute("select name from pg_available_extensions").fetchone() == ("timescaledb",)
        with pytest.raises(psycopg.errors.RaiseException, match="must be preloaded"):
            conn.execute("create extension if not exists timescaledb")


def test_auto_falls_back_to_partitions(listed_not_preloaded):
    result = migrate(listed_not_preloaded, "auto")
    assert result.returncode == 0, result.stderr
    with psycopg.connect(listed_not_preloaded) as conn:
        assert conn.execute("select value from ownstream_meta where key = 'storage_mode'").fetchone() == (
            "partitioned",
        )
        assert conn.execute("select relkind from pg_class where relname = 'readings'").fetchone() == ("p",)
        assert conn.execute("select count(*) from pg_extension where extname = 'timescaledb'").fetchone() == (0,)


def test_on_refuses_with_the_servers_reason_and_creates_nothing(listed_not_preloaded):
    result = migrate(listed_not_preloaded, "on")
    assert result.returncode != 0
    assert "must be preloaded" in result.stderr + result.stdout
    with psycopg.connect(listed_not_preloaded) as conn:
        assert conn.execute("select to_regclass('public.readings')").fetchone() == (None,)

"""Bytes per value of TimescaleDB's native compression (migration 0001's settings), measured on timescale-lite.

timescale-lite (`../shared/tools/timescale-lite`, PGlite + TimescaleDB 2.x in WebAssembly) is a check of SQL, not a
server: sizes are indicative of the real extension's compressed format, speeds mean nothing. Rows go in with INSERT
(it breaks on COPY). Two value shapes: a smooth sensor (0.1 resolution) and values that jump every reading.
Run: `dsn=$(../shared/tools/timescale-lite/start 5499)` then `uv run python -m bench.storage_timescale "$dsn"`.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import psycopg

from bench.stack import keep
from shared.config import Settings
from shared.migrate import upgrade

SHAPES = {
    "smooth": "round((20 + 5 * sin(k / 100.0 + s.id))::numeric, 1)::float8",
    "jumpy": "((k * 7 + s.id * 13) %% 1000) / 10.0",
}


def measure(conn: psycopg.Connection, shape: str, series: int, per_series: int) -> dict:
    conn.execute("truncate readings")
    conn.execute(
        f"""insert into readings (series_id, time, v_num)
        select s.id, timestamptz '2026-10-01Z' + k * interval '1 minute', {SHAPES[shape]}
        from (select id from series order by id limit %s) s, generate_series(0, %s - 1) k""",
        (series, per_series),
    )
    values = series * per_series
    before = conn.execute("select hypertable_size('readings')").fetchone()[0]
    for (chunk,) in conn.execute("select show_chunks('readings')").fetchall():
        conn.execute("select compress_chunk(%s)", (chunk,))
    after = conn.execute("select hypertable_size('readings')").fetchone()[0]
    stats = conn.execute("select after_compression_total_bytes from hypertable_compression_stats('readings')")
    return {
        "values": values,
        "bytes_per_value_uncompressed": round(before / values, 1),
        "bytes_per_value_compressed": round(after / values, 2),
        "compressed_chunks_bytes_per_value": round(stats.fetchone()[0] / values, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn", help="a timescale-lite DSN (fresh: the schema is migrated into it)")
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--per-series", type=int, default=3000, help="values per series, one a minute")
    args = parser.parse_args()
    upgrade(Settings(database_url=args.dsn, timescaledb="on", environment="test"))
    results = {}
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute("insert into users (username, password_hash) values ('bench', 'x') on conflict do nothing")
        owner = conn.execute("select id from users where username = 'bench'").fetchone()[0]
        dataset = conn.execute(
            "insert into datasets (owner_id, name) values (%s, 'bench') returning id", (owner,)
        ).fetchone()[0]
        conn.execute(
            "insert into series (dataset_id, device, variable) select %s, 'dev' || g, 'v' "
            "from generate_series(1, %s) g",
            (dataset, args.series),
        )
        for shape in SHAPES:
            results[shape] = measure(conn, shape, args.series, args.per_series)
            print(shape, json.dumps(results[shape]), flush=True)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmark": "TimescaleDB compressed bytes per value (timescale-lite: indicative only)",
        "settings": {"series": args.series, "per_series": args.per_series},
        **results,
        "target": "bytes_per_value_compressed <= 5",
    }
    keep("storage_timescale", record)


if __name__ == "__main__":
    main()

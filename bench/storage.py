"""Bytes on disk per stored value on plain PostgreSQL, with and without packing (services/worker/packing.py).

Loads `--values` readings (`--series` series, evenly spaced over the last `--days` days, oldest first) through the
worker's write path (Writer.write, in batches), twice:
- `hot`: no packing (the layout before packing), then packing at the end (a backfill packed at once; two
  maintenance runs, the second retrying a partition rewrite that a concurrent snapshot may have kept from freeing);
- `arriving`: maintenance packing after each simulated day, as workers do while data arrives.
Size = pg_total_relation_size of every readings partition + readings_packed (indexes and TOAST included).
Target (issue 7): at most 60 bytes per value. Run: `uv run python -m bench.storage --values 1000000`.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

import psycopg

from bench.stack import bench_env, keep, make_dataset
from services.worker import packing
from services.worker.normalize.rows import Batch
from services.worker.storage import Writer
from shared.config import Settings

VARIABLES = 10


def load(settings: Settings, dataset_id: int, args: argparse.Namespace, pack_daily: bool) -> dict:
    """Write every value oldest first; with `pack_daily`, pack at each simulated midnight. Returns timings."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=args.days)
    per_series = args.values // args.series
    step = timedelta(days=args.days) / per_series
    devices = args.series // VARIABLES
    writer, written, write_s, pack_s = Writer(settings), 0, 0.0, 0.0
    next_pack = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=1)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        batch = Batch()
        for k in range(per_series):
            moment = start + step * k
            if pack_daily and moment >= next_pack:
                began = time.perf_counter()
                write_s += flush(writer, batch)
                batch = Batch()
                packing.pack(conn, timedelta(seconds=settings.pack_after_s), now=next_pack)
                pack_s += time.perf_counter() - began
                next_pack += timedelta(days=1)
            for d in range(devices):
                for v in range(VARIABLES):
                    batch.add(dataset_id, f"dev{d}", f"v{v}", "{}", moment, (k * 7 + v * 13 + d) % 1000 / 10)
            written += devices * VARIABLES
            if len(batch.rows) >= args.batch:
                write_s += flush(writer, batch)
                batch = Batch()
        write_s += flush(writer, batch)
    writer.close()
    return {
        "values": written,
        "write_s": round(write_s, 1),
        "pack_s": round(pack_s, 1),
        "rows_per_s": round(written / write_s),
    }


def flush(writer: Writer, batch: Batch) -> float:
    began = time.perf_counter()
    if batch.rows:
        writer.write(batch)
    return time.perf_counter() - began


def size(dsn: str) -> tuple[int, int, int]:
    """(bytes of all readings, hot rows, packed values)."""
    with psycopg.connect(dsn) as conn:
        total = conn.execute(packing.SIZE).fetchone()[0]
        hot = conn.execute("select count(*) from readings").fetchone()[0]
        packed = conn.execute("select coalesce(sum(n), 0) from readings_packed").fetchone()[0]
    return int(total), hot, int(packed)


def figures(dsn: str, values: int) -> dict:
    total, hot, packed = size(dsn)
    return {"bytes": total, "bytes_per_value": round(total / values, 1), "hot_rows": hot, "packed_values": packed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=10_000_000)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    if args.series % VARIABLES:
        parser.error(f"--series must be a multiple of {VARIABLES}")
    variables = tuple(f"v{i}" for i in range(VARIABLES))
    results = {}
    for mode in ("hot", "arriving"):
        env = bench_env(f"ownstream_bench_storage_{mode}")
        settings = Settings()
        dataset = make_dataset(settings, variables=variables)
        timing = load(settings, dataset.id, args, pack_daily=mode == "arriving")
        results[mode] = {**timing, **figures(env["OWNSTREAM_DATABASE_URL"], timing["values"])}
        if mode == "hot":
            with psycopg.connect(settings.database_url, autocommit=True) as conn:
                began = time.perf_counter()
                packing.pack(conn, timedelta(seconds=settings.pack_after_s))
                took = time.perf_counter() - began
                packing.pack(conn, timedelta(seconds=settings.pack_after_s))  # the next maintenance run
            results["hot_then_packed_once"] = {
                "pack_s": round(took, 1),
                **figures(env["OWNSTREAM_DATABASE_URL"], timing["values"]),
            }
        print(mode, json.dumps(results[mode]), flush=True)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmark": "bytes on disk per value, plain PostgreSQL (partitions + packs, indexes and TOAST)",
        "settings": vars(args),
        **results,
        "target": "bytes_per_value <= 60",
    }
    keep("storage", record)


if __name__ == "__main__":
    main()

"""`ownstream status`: how the install is doing, as a table on stdout or as JSON."""

from __future__ import annotations

import socket
from typing import Annotated, Any

import psycopg
import typer
from redis import Redis
from redis.exceptions import RedisError
from rich.table import Table
from rq import Worker

from services.cli.console import console, emit_json, out
from shared import rates
from shared.bridge_lease import live_bridges
from shared.config import Settings, get_settings
from shared.db import one_row
from shared.queue import ingest_queue
from shared.queue_stats import queue_stats
from shared.redis_clients import redis_client

STORAGE_SQL = """
select (select value from ownstream_meta where key = 'storage_mode'),
       pg_database_size(current_database()),
       coalesce((select sum(pg_total_relation_size(relid)) from pg_partition_tree('readings')), 0)
         + coalesce(pg_total_relation_size(to_regclass('readings_packed')), 0),
       (select count(*) from rejected_records where created_at > now() - interval '1 hour')
"""
TIMESCALE_SIZE_SQL = "select hypertable_size('readings')"


def redis_part(redis: Redis, settings: Settings) -> dict[str, Any]:
    """Queue, workers, bridges and write rate, from Redis; raises RedisError when it is away."""
    stats = queue_stats(redis, settings)
    workers = sorted(Worker.all(queue=ingest_queue(redis, settings)), key=lambda w: w.name)
    return {
        "queued_jobs": stats.queued_jobs,
        "oldest_job_age_s": round(stats.oldest_job_age_s, 3),
        "started_jobs": stats.started_jobs,
        "failed_jobs": stats.failed_jobs,
        "workers": len(workers),
        "worker_list": [
            {"name": w.name, "host": w.hostname, "pid": w.pid, "state": str(w.get_state())} for w in workers
        ],
        "bridges": [
            {"client_id": b.get("client_id"), "host": b.get("host"), "pid": b.get("pid"), "broker": b.get("broker")}
            for b in live_bridges(redis, settings)
        ],
        "readings_per_s": round(rates.per_second(redis, settings.redis_namespace), 1),
    }


def database_part(settings: Settings) -> dict[str, Any]:
    """Storage mode and size, rejected records of the last hour; `database` says whether it answered."""
    try:
        with psycopg.connect(settings.database_url, connect_timeout=3, autocommit=True) as conn:
            mode, database_bytes, readings_bytes, rejected = one_row(conn.execute(STORAGE_SQL))
            if mode == "timescaledb":
                readings_bytes = one_row(conn.execute(TIMESCALE_SIZE_SQL))[0] or 0
    except psycopg.Error as error:
        return {
            "database": f"unreachable: {str(error).strip().splitlines()[0]}",
            "storage_mode": None,
            "database_bytes": None,
            "readings_bytes": None,
            "rejected_last_hour": None,
        }
    return {
        "database": "ok",
        "storage_mode": mode,
        "database_bytes": int(database_bytes),
        "readings_bytes": int(readings_bytes),
        "rejected_last_hour": int(rejected),
    }


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def render(info: dict[str, Any]) -> None:
    summary = Table(title="Ownstream", show_header=False, title_justify="left")
    summary.add_column("what", style="bold")
    summary.add_column("value")
    summary.add_row("queued jobs", str(info["queued_jobs"]))
    summary.add_row("oldest job age", f"{info['oldest_job_age_s']:.1f} s")
    summary.add_row("jobs in progress", str(info["started_jobs"]))
    summary.add_row(
        "failed jobs", str(info["failed_jobs"]) + ("  (see `ownstream failed list`)" if info["failed_jobs"] else "")
    )
    summary.add_row("readings/s (last minute)", f"{info['readings_per_s']:.1f}")
    summary.add_row(
        "rejected (last hour)", str(info["rejected_last_hour"]) if info["rejected_last_hour"] is not None else "-"
    )
    summary.add_row("database", info["database"])
    summary.add_row(
        "storage",
        f"{info['storage_mode'] or '-'}: readings {size(info['readings_bytes'])}, "
        f"database {size(info['database_bytes'])}",
    )
    summary.add_row("workers alive", str(info["workers"]))
    summary.add_row("bridges alive", str(len(info["bridges"])))
    out.print(summary)
    processes = Table(title="Processes", title_justify="left")
    for column in ("kind", "name", "host", "pid", "state"):
        processes.add_column(column)
    for w in info["worker_list"]:
        processes.add_row("worker", w["name"], w["host"], str(w["pid"]), w["state"])
    for b in info["bridges"]:
        processes.add_row("bridge", b["client_id"], b["host"], str(b["pid"]), f"connected to {b['broker']}")
    if info["worker_list"] or info["bridges"]:
        out.print(processes)


def status(json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False) -> None:
    """Queue depth and age, workers and bridges alive, write rate, failed jobs, rejects, storage."""
    settings = get_settings()
    redis = redis_client(settings)
    try:
        info = redis_part(redis, settings)
    except RedisError as error:
        console.print(f"[red]error:[/red] Redis unreachable at {settings.redis_url.split('@')[-1]}: {error}")
        raise typer.Exit(1) from None
    info.update(database_part(settings))
    info["host"] = socket.gethostname()
    if json:
        emit_json(info)
    else:
        render(info)
    if info["database"] != "ok":
        console.print(f"[red]error:[/red] database {info['database']}")
        raise typer.Exit(1)

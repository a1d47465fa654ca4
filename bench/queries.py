"""Reading ranges: Q1 raw day (JSON), Q2 30 days in 1 h averages, Q3 latest of 1,000 series, CSV export.

Ownstream and InfluxDB 1.x (`../shared/tools/influxdb-peer`) hold the same data and answer over HTTP in the
same run. Ownstream is loaded through the worker's write path (`Writer.write`), so rollups are maintained as
they would be for pushed data; the export set (one series) is inserted by SQL. Median of `--runs` timings.
Targets (issue 7): Q1 <= 0.5x InfluxDB; Q2 <= 50 ms and <= 0.2x InfluxDB; Q3 <= 25 ms.
Run: `uv run python -m bench.queries` (full size; `--days 2 --series 99 --export-rows 1000000` for a check).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from bench.stack import RESULTS, bench_env, influx_peer, make_dataset, ownstream, processes, wait_http
from services.worker.normalize.rows import Batch, Row
from services.worker.storage import Writer
from shared.config import Settings
from tests.support.services import free_port

START = datetime(2026, 5, 1, tzinfo=UTC)
BATCH = 50_000


def rows_for(dataset_id: int, days: int, series: int):
    """Batches of worker rows: `hf` every second, and v001..v<series> every 10 minutes."""
    seconds = days * 86_400
    batch = []
    for s in range(seconds):
        batch.append(
            Row(dataset_id, "", "hf", "{}", START + timedelta(seconds=s), (s % 1000) / 10, None, None, None, None)
        )
        if s % 600 == 0:
            batch += [
                Row(
                    dataset_id, "", f"v{k:03}", "{}", START + timedelta(seconds=s), None, s // 600 + k, None, None, None
                )
                for k in range(1, series + 1)
            ]
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def influx_lines(batch) -> bytes:
    out = []
    for _, _, variable, _, moment, num, integer, *_ in batch:
        value = f"{num if num is not None else integer}"  # one field type per measurement (float)
        out.append(f"m,var={variable} v={value} {int(moment.timestamp())}")
    return "\n".join(out).encode()


def load(settings: Settings, dataset_id: int, influx: str, days: int, series: int) -> dict:
    writer = Writer(settings)
    own = peer = 0.0
    total = 0
    httpx.post(f"{influx}/query", data={"q": "CREATE DATABASE bench"}).raise_for_status()
    try:
        for batch in rows_for(dataset_id, days, series):
            began = time.perf_counter()
            total += writer.write(Batch(rows=batch)).stored
            own += time.perf_counter() - began
            began = time.perf_counter()
            httpx.post(
                f"{influx}/write", params={"db": "bench", "precision": "s"}, content=influx_lines(batch), timeout=120
            ).raise_for_status()
            peer += time.perf_counter() - began
    finally:
        writer.close()
    return {"rows": total, "ownstream_load_s": round(own, 1), "influx_load_s": round(peer, 1)}


def median_ms(call, runs: int) -> float:
    call()  # warm caches and connections
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        timings.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(timings), 1)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def export(api: str, dataset, pid: int) -> dict:
    """Stream the export set as CSV; rows/s and the server's RSS before and at its peak."""
    before = peak = rss_kb(pid)
    lines, began = 0, time.perf_counter()
    params = {"key": dataset.read_key, "format": "csv"}
    with httpx.stream("GET", f"{api}/api/v1/datasets/{dataset.id}/data", params=params, timeout=3600) as response:
        response.raise_for_status()
        for index, chunk in enumerate(response.iter_bytes()):
            lines += chunk.count(b"\n")
            if index % 64 == 0:
                peak = max(peak, rss_kb(pid))
    elapsed = time.perf_counter() - began
    return {
        "rows": lines - 1,
        "seconds": round(elapsed, 1),
        "rows_per_s": round((lines - 1) / elapsed),
        "server_rss_before_mb": round(before / 1024, 1),
        "server_rss_peak_mb": round(peak / 1024, 1),
    }


def load_export_set(settings: Settings, dataset_id: int, rows: int) -> None:
    """One series of `rows` integers a second apart, inserted by SQL (the load is not what is measured)."""
    writer = Writer(settings)
    first = Row(dataset_id, "", "x", "{}", START, None, 0, None, None, None)
    last = Row(dataset_id, "", "x", "{}", START + timedelta(seconds=rows - 1), None, rows - 1, None, None, None)
    writer.write(Batch(rows=[first, last]))  # the series and the partitions the span needs
    writer.close()
    with psycopg.connect(settings.database_url) as conn:
        [sid] = conn.execute("select id from series where dataset_id = %s", [dataset_id]).fetchone()
        conn.execute(
            "insert into readings (series_id, time, v_int) select %s, %s + i * interval '1 second', i "
            "from generate_series(1, %s) i",
            [sid, START, rows - 2],
        )
        conn.execute("analyze readings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--series", type=int, default=999)
    parser.add_argument("--export-rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    env = bench_env("ownstream_bench_queries")
    settings = Settings()
    dataset = make_dataset(settings, variables=())
    exported = make_dataset(settings, name="Export", variables=())
    record: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": vars(args),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
    }
    with influx_peer() as influx:
        record["load"] = load(settings, dataset.id, influx, args.days, args.series)
        load_export_set(settings, exported.id, args.export_rows)
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("vacuum analyze readings")
        port = free_port()
        with processes([ownstream("serve", "api", "--port", str(port))], env) as procs:
            api = f"http://127.0.0.1:{port}"
            wait_http(f"{api}/healthz")
            client = httpx.Client(timeout=600)
            day = START + timedelta(days=args.days // 2)
            key = {"key": dataset.read_key}
            span_end = START + timedelta(days=args.days)

            def ours(path: str, **params):
                return lambda: client.get(
                    f"{api}/api/v1/datasets/{dataset.id}/{path}", params={**key, **params}
                ).raise_for_status()

            def theirs(query: str):
                return lambda: client.get(
                    f"{influx}/query", params={"db": "bench", "q": query, "epoch": "s"}
                ).raise_for_status()

            day_where = f"time >= '{day.isoformat()}' and time < '{(day + timedelta(days=1)).isoformat()}'"
            span_where = f"time >= '{START.isoformat()}' and time < '{span_end.isoformat()}'"
            record["q1_raw_day_json_ms"] = {
                "ownstream": median_ms(
                    ours(
                        "data",
                        vars="hf",
                        start=day.isoformat(),
                        end=(day + timedelta(days=1)).isoformat(),
                        limit=100_000,
                    ),
                    args.runs,
                ),
                "influxdb": median_ms(theirs(f"select v from m where var = 'hf' and {day_where}"), args.runs),
            }
            record["q2_hourly_avg_ms"] = {
                "ownstream": median_ms(
                    ours(
                        "data",
                        vars="hf",
                        start=START.isoformat(),
                        end=span_end.isoformat(),
                        bucket="1h",
                        agg="avg",
                        format="columns",
                    ),
                    args.runs,
                ),
                "influxdb": median_ms(
                    theirs(f"select mean(v) from m where var = 'hf' and {span_where} group by time(1h)"), args.runs
                ),
            }
            record["q3_latest_ms"] = {
                "ownstream": median_ms(ours("latest"), args.runs),
                "influxdb": median_ms(theirs("select last(v) from m group by var"), args.runs),
            }
            record["export_csv"] = export(api, exported, procs[0].pid)
    for name in ("q1_raw_day_json_ms", "q2_hourly_avg_ms", "q3_latest_ms"):
        figures = record[name]
        figures["ratio"] = round(figures["ownstream"] / figures["influxdb"], 2)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    (RESULTS / f"queries-{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")
    table = markdown(record)
    (RESULTS / f"queries-{stamp}.md").write_text(table)
    print(json.dumps(record, indent=2))
    print(table)


def markdown(record: dict) -> str:
    rows = [
        ("Q1: one day raw, JSON", "q1_raw_day_json_ms", "<= 0.5x InfluxDB"),
        (f"Q2: {record['settings']['days']} days in 1 h averages", "q2_hourly_avg_ms", "<= 50 ms and <= 0.2x InfluxDB"),
        ("Q3: latest of every series", "q3_latest_ms", "<= 25 ms"),
    ]
    lines = [
        f"Settings: {record['settings']}, {record['load']['rows']:,} rows loaded, load average "
        f"{record.get('load_average_at_start', '?')} at the start.",
        "",
        "| query | Ownstream ms | InfluxDB ms | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for label, key, target in rows:
        f = record[key]
        lines.append(f"| {label} | {f['ownstream']} | {f['influxdb']} | {f['ratio']} | {target} |")
    e = record["export_csv"]
    lines += [
        "",
        f"CSV export: {e['rows']:,} rows in {e['seconds']} s ({e['rows_per_s']:,} rows/s), server RSS "
        f"{e['server_rss_before_mb']} MB before, {e['server_rss_peak_mb']} MB at peak.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

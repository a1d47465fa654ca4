"""Dashboard over a long 1 Hz series: time from navigation to a drawn chart, and from a zoom to its redraw.

Loads `--variables` variables at 1 Hz for `--days` (365: 31.5 million readings each) into a fresh database with
the bulk loader (bench/bulk_load.py: packed days, hot rows and rollups written by SQL in the form the worker
stores them, then read back through readings_in() and the rollups compared with raw readings), serves it with
`ownstream serve all`, and drives headless chromium (Playwright) to the dataset page with range=all, then drags
across the chart. Targets (issue 12): chart within 2 s of navigation, zoom redrawn within 0.5 s.

    uv run python -m bench.dashboard --days 3                 # a quick proof
    uv run python -m bench.dashboard --days 365 --runs 7      # the issue's year
    uv run python -m bench.dashboard --reuse --runs 7         # browse again what the last run loaded
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg

from bench import bulk_load
from bench.stack import BENCH_REDIS_URL, ROOT, bench_env, keep, make_dataset, ownstream, processes, wait_http
from shared.config import Settings
from shared.migrate import upgrade
from tests.support.services import checkout_tag, free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
VARIABLES = ("value", "value2")
NAME = "One Hz"


def is_data(response) -> bool:
    return "/data?" in response.url and "format=columns" in response.url and "start=-24h" not in response.url


def answered(response) -> dict:
    """What one chart data request asked and got: span, bucket, server time to first byte, total time."""
    timing = response.request.timing
    query = response.url.split("?", 1)[1]
    params = dict(part.split("=", 1) for part in query.split("&"))
    return {
        "span_days": round((int(params["end"]) - int(params["start"])) / 86_400, 2),
        "bucket": response.json().get("bucket"),
        "ttfb_ms": round(timing["responseStart"] - timing["requestStart"], 1),
        "total_ms": round(timing["responseEnd"] - timing["requestStart"], 1),
    }


def browse(base: str, dataset_id: int, runs: int) -> dict:
    """Navigation until every chart is drawn, and a drag-zoom until every chart is redrawn, `runs` times each (s).

    The first data request of each navigation and of each zoom is recorded (with several charts, one of them).
    """
    from playwright.sync_api import sync_playwright

    shown, zooms, requests = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            with page.expect_response(is_data) as first:
                began = time.perf_counter()
                page.goto(f"{base}/dashboard/datasets/{dataset_id}?range=all", wait_until="commit")
                page.wait_for_selector("figure.chart[data-loaded] .uplot canvas")
                page.wait_for_selector("figure.chart:not([data-loaded])", state="detached")  # every chart drawn
                shown.append(time.perf_counter() - began)
            box = page.locator("figure.chart .u-over").first.bounding_box()
            y = box["y"] + box["height"] / 2
            before = page.get_attribute("figure.chart", "data-loaded")
            page.mouse.move(box["x"] + box["width"] * 0.40, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=3)
            with page.expect_response(is_data) as zoom:
                began = time.perf_counter()
                page.mouse.up()
                # a selector wait: the page's policy forbids the eval that wait_for_function polls with
                page.wait_for_selector(f'figure.chart:not([data-loaded="{before}"]) .uplot canvas')
                page.wait_for_selector(f'figure.chart[data-loaded="{before}"]', state="detached")  # every chart
                zooms.append(time.perf_counter() - began)
            requests.append({"navigation": answered(first.value), "zoom": answered(zoom.value)})
            if len(zooms) == 1:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=ARTIFACTS / "bench-dashboard-zoomed.png")
            page.close()
        browser.close()
    return {"navigation_to_chart_s": shown, "zoom_redraw_s": zooms, "requests": requests}


def prepare(options: argparse.Namespace) -> tuple[dict[str, str], int, dict]:
    """The bench database (loaded now, or kept from an earlier run with --reuse): env, dataset id, load figures."""
    if options.reuse:
        url = f"postgresql://postgres@127.0.0.1:5432/{options.database}"
        env = {
            "OWNSTREAM_DATABASE_URL": url,
            "OWNSTREAM_REDIS_URL": BENCH_REDIS_URL,
            "OWNSTREAM_QUEUE_NAME": f"bench-{options.database}",
            "OWNSTREAM_REDIS_NAMESPACE": f"bench-{options.database}",
            "OWNSTREAM_ENVIRONMENT": "test",
        }
        os.environ.update(env)
        upgrade(Settings())
        with psycopg.connect(url) as conn:
            row = conn.execute("select id, entry_count from datasets where name = %s", (NAME,)).fetchone()
            if row is None:
                raise SystemExit(f"--reuse: no dataset {NAME!r} in {options.database}; run without --reuse first")
            per = conn.execute("select count(*) from series where dataset_id = %s", (row[0],)).fetchone()[0]
        return env, row[0], {"reused": True, "readings": row[1], "variables": per}
    env = bench_env(options.database)
    settings = Settings()
    variables = VARIABLES[: options.variables]
    dataset = make_dataset(settings, name=NAME, variables=variables, public=True)
    now = datetime.now(UTC)
    start, end = bulk_load.year_ending(now, options.days)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        loaded = bulk_load.load(
            conn,
            dataset.id,
            variables,
            start,
            end,
            now=now,
            pack_after=timedelta(seconds=settings.pack_after_s),
            partition_interval=settings.partition_interval,
            progress=lambda line: print(f"  {line}", flush=True),
        )
        print(f"loaded {loaded.per_series * len(variables):,} readings in {loaded.seconds:.1f} s", flush=True)
        checked = bulk_load.check(conn, loaded)
        print(f"checked through readings_in() and rollups: {checked}", flush=True)
    return (
        env,
        dataset.id,
        {
            "reused": False,
            "readings": loaded.per_series * len(variables),
            "variables": len(variables),
            "load_s": round(loaded.seconds, 1),
            "check": checked,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--variables", type=int, choices=(1, 2), default=1, help="variables at 1 Hz (charts)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--database",
        default=f"ownstream_bench_dashboard_{checkout_tag()}",  # this checkout's own: other checkouts' runs differ
        help="recreated unless --reuse",
    )
    parser.add_argument("--reuse", action="store_true", help="browse what an earlier run loaded in --database")
    options = parser.parse_args()

    load_average = os.getloadavg()
    env, dataset_id, loading = prepare(options)
    port = free_port()
    with processes([ownstream("serve", "all", "--port", str(port))], env):
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        browse_load = os.getloadavg()
        figures = browse(base, dataset_id, options.runs)
    shown, zooms = figures["navigation_to_chart_s"], figures["zoom_redraw_s"]
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.node(),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_average],
        "load_average_while_browsing": [round(x, 2) for x in browse_load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "days": options.days,
        **loading,
        "loader": "bench/bulk_load.py (SQL, the worker's stored form)",
        "runs": options.runs,
        "navigation_to_chart_median_s": round(statistics.median(shown), 3),
        "navigation_to_chart_worst_s": round(max(shown), 3),
        "zoom_redraw_median_s": round(statistics.median(zooms), 3),
        "zoom_redraw_worst_s": round(max(zooms), 3),
        **figures,
        "targets": {"navigation_to_chart_s": 2.0, "zoom_redraw_s": 0.5},
    }
    keep("dashboard", record)


if __name__ == "__main__":
    main()

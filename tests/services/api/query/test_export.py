"""CSV and NDJSON of 1,000,000 rows stream from a served API: first bytes while the query runs, flat memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from services.api.query.export import export_rows
from tests.support.factories import make_dataset
from tests.support.http import wait_http
from tests.support.processes import ownstream_process
from tests.support.readings import store
from tests.support.services import free_port

ROWS = 1_000_000
START = datetime(2026, 1, 1, tzinfo=UTC)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.fixture
def million(settings):
    """One series with an integer a second for 1,000,000 seconds, loaded straight into readings."""
    dataset = make_dataset(settings)
    store(settings, dataset.id, [("", "n", {}, START, 0), ("", "n", {}, START + timedelta(seconds=ROWS - 1), ROWS - 1)])
    with psycopg.connect(settings.database_url) as conn:
        [sid] = conn.execute("select id from series where dataset_id = %s", [dataset.id]).fetchone()
        conn.execute(
            "insert into readings (series_id, time, v_int) select %s, %s + i * interval '1 second', i "
            "from generate_series(1, %s) i",
            [sid, START, ROWS - 2],
        )
    return dataset


@pytest.fixture
def api(settings):
    port = free_port()
    with ownstream_process("serve", "api", "--port", str(port)) as process:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", process=process)
        yield url, process.pid


def copy_running(settings) -> bool:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return (
            conn.execute(
                "select count(*) from pg_stat_activity where state = 'active' and query ilike 'copy (select%%'"
            ).fetchone()[0]
            > 0
        )


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_million_rows_stream_with_flat_memory(settings, million, api, fmt):
    url, pid = api
    params = {"key": million.read_key, "format": fmt}
    with httpx.stream("GET", f"{url}/api/v1/datasets/{million.id}/data", params=params, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv" if fmt == "csv" else "application/x-ndjson")
        chunks = response.iter_bytes()
        first = next(chunks)
        while len(first) < 65536:  # a first few blocks of rows
            first += next(chunks)
        assert copy_running(settings), "the first bytes came only after the query had finished"
        baseline = peak = rss_kb(pid)
        size, lines, tail = len(first), first.count(b"\n"), first[-200:]
        for index, chunk in enumerate(chunks):
            size += len(chunk)
            lines += chunk.count(b"\n")
            tail = (tail + chunk)[-200:]
            if index % 16 == 0:
                peak = max(peak, rss_kb(pid))
    header = 1 if fmt == "csv" else 0
    assert lines == ROWS + header
    assert (peak - baseline) * 1024 < size / 4, (baseline, peak, size)  # far less than the body, which is tens of MB
    head, last = first.split(b"\n")[header], tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    if fmt == "csv":
        assert first.startswith(b"time,variable,device,tags,value\n")
        assert head == b"2026-01-01T00:00:00Z,n,,,0"
        assert last == b"2026-01-12T13:46:39Z,n,,,999999"
    else:
        assert json.loads(head) == {"time": "2026-01-01T00:00:00Z", "variable": "n", "value": 0}
        assert json.loads(last) == {"time": "2026-01-12T13:46:39Z", "variable": "n", "value": 999999}


def test_export_rows_is_reusable_with_filters(settings):
    dataset = make_dataset(settings)
    store(
        settings,
        dataset.id,
        [
            ("a", "t", {"room": "x"}, START, 1.5),
            ("b", "t", {"room": "y"}, START, 2),
            ("a", "s", {}, START + timedelta(seconds=1), 'say "hi",\nthen\\go'),
        ],
    )
    with psycopg.connect(settings.database_url) as conn:
        text = b"".join(export_rows(conn, dataset.id, START, START + timedelta(hours=1), "ndjson")).decode()
        lines = [json.loads(line) for line in text.splitlines()]
        assert lines == [
            {"time": "2026-01-01T00:00:00Z", "variable": "t", "device": "a", "tags": {"room": "x"}, "value": 1.5},
            {"time": "2026-01-01T00:00:00Z", "variable": "t", "device": "b", "tags": {"room": "y"}, "value": 2},
            {"time": "2026-01-01T00:00:01Z", "variable": "s", "device": "a", "value": 'say "hi",\nthen\\go'},
        ]
        csv_text = b"".join(
            export_rows(conn, dataset.id, START, START + timedelta(hours=1), "csv", device="a")
        ).decode()
    import csv
    import io

    assert list(csv.reader(io.StringIO(csv_text))) == [
        ["time", "variable", "device", "tags", "value"],
        ["2026-01-01T00:00:00Z", "t", "a", '{"room":"x"}', "1.5"],
        ["2026-01-01T00:00:01Z", "s", "a", "", 'say "hi",\nthen\\go'],
    ]

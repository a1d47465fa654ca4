"""`ownstream export` and `import`: a dataset moves exactly, a second import stores nothing, other formats load."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import orjson

from services.worker.normalize.rows import Batch
from services.worker.storage import Writer
from tests.support.db import reading_count
from tests.support.factories import make_dataset
from tests.support.processes import run_cli

START = datetime(2026, 1, 1, tzinfo=UTC)
STATES = ["open", "closed, for now", 'say "hi"', "naïve ✓", "multi\nline", "true", "12"]


def fill(settings, dataset_id: int, count: int) -> None:
    """`count` readings of every type, from three devices, some with tags, each series at its own times."""
    batch = Batch()
    for i in range(count):
        moment = START + timedelta(seconds=i // 4, microseconds=(i * 7919) % 1_000_000)
        device = ("", "car-1", "car-2")[i % 3]
        tags = '{"room":"kitchen"}' if i % 5 == 0 else "{}"
        kind = i % 4
        value: object = (i / 8, 2**60 + i, STATES[i % len(STATES)], i % 2 == 0)[kind]
        if kind == 0 and i % 3 == 0:
            value = float(i)  # a whole double stays a double
        batch.add(dataset_id, device, ("temperature", "count", "state", "ok")[kind], tags, moment, value)
    writer = Writer(settings)
    try:
        for offset in range(0, count, 20_000):
            part = Batch(rows=batch.rows[offset : offset + 20_000])
            assert writer.write(part).stored == len(part.rows)
    finally:
        writer.close()


def cli_json(*args: str):
    result = run_cli(*args, "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def test_export_import_round_trips_100k_readings_exactly_and_twice_stores_once(settings, tmp_path):
    source = make_dataset(settings, name="Source", variables=())
    fill(settings, source.id, 100_000)
    first, again = tmp_path / "source.ndjson", tmp_path / "copy.ndjson"
    exported = run_cli("export", "--dataset", str(source.id), "--format", "ndjson", "-o", str(first), timeout=600)
    assert exported.returncode == 0, exported.stderr
    assert sum(1 for _ in first.open("rb")) == 100_000

    copy = make_dataset(settings, name="Copy", variables=())
    imported = cli_json("import", str(first), "--dataset", str(copy.id))
    assert (imported["read"], imported["stored"], imported["unchanged"]) == (100_000, 100_000, 0)
    assert imported["format"] == "ndjson"
    assert run_cli("export", "--dataset", str(copy.id), "-o", str(again), timeout=600).returncode == 0
    assert again.read_bytes() == first.read_bytes()  # every time, value, type, device and tag as it was

    second = cli_json("import", str(first), "--dataset", str(copy.id))
    assert (second["stored"], second["unchanged"]) == (0, 100_000)
    assert reading_count(settings, copy.id) == 100_000


def test_csv_export_window_and_import(settings, tmp_path):
    source = make_dataset(settings, name="Source", variables=())
    fill(settings, source.id, 400)
    path = tmp_path / "part.csv"
    done = run_cli(
        "export",
        "--dataset",
        str(source.id),
        "--format",
        "csv",
        "--start",
        "2026-01-01T00:00:10Z",
        "--end",
        "2026-01-01T00:00:20Z",
        "-o",
        str(path),
    )
    assert done.returncode == 0, done.stderr
    assert "40/40" in done.stderr  # the progress bar's last state: readings written of the window's total
    assert path.read_text().startswith("time,variable,device,tags,value\n")
    copy = make_dataset(settings, name="Copy", variables=())
    progress = run_cli("import", str(path), "--dataset", str(copy.id))
    assert progress.returncode == 0 and "import csv" in progress.stderr, progress.stderr
    assert "40 readings read, 40 stored" in progress.stdout
    assert reading_count(settings, copy.id) == 40
    piped = run_cli("export", "--dataset", str(copy.id), "--format", "csv")
    assert piped.returncode == 0 and len(list(csv.reader(io.StringIO(piped.stdout)))) == 41


def test_line_protocol_and_thingspeak_imports(client, settings, tmp_path):
    dataset = make_dataset(settings, variables=("temperature", "humidity"))
    lines = tmp_path / "points.lp"
    lines.write_text(
        '# from influx\nweather,room=kitchen temperature=21.5,door="open" 1767225600\n'
        "weather,room=hall temperature=19i 1767225660\n"
    )
    imported = cli_json("import", str(lines), "--dataset", str(dataset.id), "--precision", "s")
    assert (imported["format"], imported["stored"]) == ("lineproto", 3)
    rows = client.get(
        f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, "tag": "room:hall"}
    ).json()["rows"]
    assert [(r["variable"], r["value"]) for r in rows] == [("weather.temperature", 19)]

    channel = tmp_path / "feeds.csv"
    channel.write_text(
        "created_at,entry_id,field1,field2,latitude,longitude,elevation,status\n"
        "2026-01-02 00:00:00 UTC,1,21.5,40,,,,\n"
        "2026-01-02 00:01:00 UTC,2,21.7,,52.1,4.3,,all good\n"
    )
    imported = cli_json("import", str(channel), "--dataset", str(dataset.id))
    assert (imported["format"], imported["stored"]) == ("thingspeak", 6)
    feed = client.get(
        f"/channels/{dataset.id}/feeds.json",
        params={"api_key": dataset.read_key, "start": "2026-01-02 00:00:00", "status": "true"},
    ).json()
    assert [(f["entry_id"], f["field1"], f["status"]) for f in feed["feeds"]] == [
        (1, "21.5", None),
        (2, "21.7", "all good"),
    ]
    assert cli_json("import", str(channel), "--dataset", str(dataset.id))["stored"] == 0


def test_import_refuses_bad_input(settings, tmp_path):
    dataset = make_dataset(settings, variables=("temperature",))
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"time":"2026-01-01T00:00:00Z","variable":"temperature","value":1}\n{"time":"yesterday"}\n')
    result = run_cli("import", str(bad), "--dataset", str(dataset.id))
    assert result.returncode == 1 and "line 2" in result.stderr
    assert reading_count(settings, dataset.id) == 1  # what came before is stored; importing again is safe
    missing = run_cli("import", str(bad), "--dataset", "9999")
    assert missing.returncode == 1 and "no dataset 9999" in missing.stderr
    assert run_cli("import", str(tmp_path / "none.csv"), "--dataset", str(dataset.id)).returncode == 1
    wrong = run_cli("export", "--dataset", str(dataset.id), "--format", "xml")
    assert wrong.returncode == 2 and "csv or ndjson" in wrong.stderr
    when = run_cli("export", "--dataset", str(dataset.id), "--start", "someday")
    assert when.returncode == 2 and "--start" in when.stderr

"""`ownstream export | import | backup | restore`: moving readings and whole installs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated

import psycopg
import typer
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from services.cli.console import console, emit_json, out
from services.cli.context import announce, command_transaction
from services.transfer import readers
from shared.config import get_settings
from shared.datasets import get_dataset
from shared.db import connect_raw, one_row
from shared.values import ValueProblem

# hot and packed readings alike (readings_in, migration 0003)
COUNT_SQL = (
    "select count(*) from series s cross join lateral readings_in(array[s.id], %(start)s, %(end)s) r "
    "where s.dataset_id = %(ds)s"
)
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _moment(text: str | None, default: datetime, name: str) -> datetime:
    from services.api.query.times import parse_moment

    if text is None:
        return default
    try:
        return parse_moment(text)
    except ValueProblem as problem:
        console.print(f"[red]error:[/red] --{name}: {problem}")
        raise typer.Exit(2) from None


def _dataset_variables(dataset_id: int) -> list[str]:
    with command_transaction() as session:
        return [v.tag for v in get_dataset(session, dataset_id).variables]  # exits with an error if it is not there


def export(
    dataset: Annotated[int, typer.Option("--dataset", help="the dataset's id")],
    format: Annotated[str, typer.Option("--format", help="ndjson (exact: types and tags) or csv")] = "ndjson",
    start: Annotated[str | None, typer.Option(help="from this time (ISO-8601, epoch, -7d, ...)")] = None,
    end: Annotated[str | None, typer.Option(help="until this time (excluded)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")] = None,
) -> None:
    """Write a dataset's readings as NDJSON or CSV, streamed from the database (GET /data's formats)."""
    from services.api.query.export import export_rows  # the API's query code: loaded only for this command
    from services.api.query.times import EARLIEST, LATEST

    if format not in ("csv", "ndjson"):
        console.print(f"[red]error:[/red] --format must be csv or ndjson, not {format!r}")
        raise typer.Exit(2)
    begin, finish = _moment(start, EARLIEST, "start"), _moment(end, LATEST, "end")
    _dataset_variables(dataset)
    settings = get_settings()
    with ExitStack() as stack:
        conn = stack.enter_context(connect_raw(settings))
        conn.execute("set transaction read only")
        total = one_row(conn.execute(COUNT_SQL, {"ds": dataset, "start": begin, "end": finish}))[0]
        sink: IO[bytes] = stack.enter_context(output.open("wb")) if output else sys.stdout.buffer
        progress = stack.enter_context(
            Progress(
                TextColumn("export"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=output is None,
            )
        )
        task = progress.add_task("readings", total=total)
        # lines written so far: one per reading, except a CSV text value's own line breaks (capped at the total)
        lines = -1 if format == "csv" else 0
        for block in export_rows(conn, dataset, begin, finish, format):
            sink.write(block)
            lines += block.count(b"\n")
            progress.update(task, completed=min(lines, total))
        sink.flush()
        progress.update(task, completed=total)
    if output:
        console.print(f"exported {total} readings of dataset {dataset} to {output}")


def _lines(stream: IO[bytes], progress: Progress, task: TaskID) -> Iterator[str]:
    for raw in stream:
        progress.advance(task, len(raw))
        yield raw.decode()


def import_(
    file: Annotated[Path, typer.Argument(help="the file ('-' for stdin)", allow_dash=True)],
    dataset: Annotated[int, typer.Option("--dataset", help="the dataset to import into")],
    format: Annotated[str, typer.Option("--format", help="auto, ndjson, csv, lineproto or thingspeak")] = "auto",
    precision: Annotated[str, typer.Option(help="line protocol timestamps: ns, us, ms or s")] = "ns",
    device: Annotated[str, typer.Option(help="line protocol: the device the readings come from")] = "",
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Import readings from an export, InfluxDB line protocol or a ThingSpeak channel CSV; importing twice
    stores once."""
    from services.transfer.importer import import_readings  # the worker's Writer: loaded only for this command

    if format not in ("auto", *readers.FORMATS):
        console.print(f"[red]error:[/red] --format must be auto or one of {', '.join(readers.FORMATS)}")
        raise typer.Exit(2)
    variables = _dataset_variables(dataset)
    settings = get_settings()
    with ExitStack() as stack:
        if str(file) == "-":
            stream, size = sys.stdin.buffer, None
        else:
            try:
                stream = stack.enter_context(file.open("rb"))
            except OSError as error:
                console.print(f"[red]error:[/red] {error}")
                raise typer.Exit(1) from None
            size = file.stat().st_size
        first = stream.peek(4096)[:4096].split(b"\n", 1)[0].decode(errors="replace") if hasattr(stream, "peek") else ""
        kind = readers.detect(first, file.name) if format == "auto" else format
        progress = stack.enter_context(
            Progress(TextColumn(f"import {kind}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=console)
        )
        task = progress.add_task("bytes", total=size)
        lines = _lines(stream, progress, task)
        parsed = {
            "ndjson": lambda: readers.read_ndjson(lines),
            "csv": lambda: readers.read_csv(lines),
            "lineproto": lambda: readers.read_lineproto(lines, precision, device),
            "thingspeak": lambda: readers.read_thingspeak(lines, variables),
        }[kind]()
        try:
            result = import_readings(settings, dataset, parsed)
        except readers.ImportProblem as problem:
            progress.stop()
            console.print(
                f"[red]error:[/red] {problem}; the readings before it are stored (importing the file again is safe)"
            )
            raise typer.Exit(1) from None
        except UnicodeDecodeError as error:
            progress.stop()
            console.print(f"[red]error:[/red] the file is not UTF-8 text ({error.reason})")
            raise typer.Exit(1) from None
    if result.variables_registered:
        announce()
    summary = {
        "dataset": dataset,
        "format": kind,
        "read": result.read,
        "stored": result.stored,
        "unchanged": result.unchanged,
        "variables_registered": result.variables_registered,
    }
    if json:
        emit_json(summary)
    else:
        out.print(
            f"dataset {dataset}: {result.read} readings read, {result.stored} stored, {result.unchanged} already there"
        )


def _tool(name: str) -> str:
    found = shutil.which(name) or (str(PG_BIN / name) if (PG_BIN / name).exists() else None)
    if found is None:
        console.print(f"[red]error:[/red] {name} not found: install the PostgreSQL client (postgresql-client)")
        raise typer.Exit(1)
    return found


def backup(
    output: Annotated[Path, typer.Argument(help="the backup file (pg_dump custom format)")],
) -> None:
    """Back up the whole database with pg_dump (custom format, no owners or privileges)."""
    settings = get_settings()
    command = [
        _tool("pg_dump"),
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        "--compress=6",
        f"--file={output}",
        f"--dbname={settings.database_url}",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        console.print(f"[red]error:[/red] pg_dump failed: {done.stderr.strip()}")
        raise typer.Exit(1)
    console.print(f"backed up to {output} ({output.stat().st_size} bytes); restore with `ownstream restore`")


def _replace_schema(url: str, file: Path) -> tuple[int, str]:
    """Drop the public schema and restore the backup in its place, all in one transaction (psql).

    pg_restore's own --clean cannot drop the readings partitions' inherited constraints one by one.
    """
    dump = subprocess.Popen(
        [_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    load = subprocess.Popen(
        [_tool("psql"), "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1", f"--dbname={url}", "--file=-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert dump.stdout is not None and load.stdin is not None
    try:
        load.stdin.write(b"drop schema public cascade;\ncreate schema public;\n")
        shutil.copyfileobj(dump.stdout, load.stdin)
    except BrokenPipeError:  # psql stopped at an error: its message says which
        pass
    finally:
        load.stdin.close()
    dump.wait()
    errors = load.stderr.read().decode() if load.stderr else ""
    return (load.wait() or dump.returncode), errors + (dump.stderr.read().decode() if dump.stderr else "")


def restore(
    file: Annotated[Path, typer.Argument(help="a file made by `ownstream backup`")],
    clean: Annotated[bool, typer.Option("--clean", help="drop what the database holds first")] = False,
) -> None:
    """Restore a backup into the configured database (empty, or emptied with --clean), in one transaction."""
    settings = get_settings()
    if not file.is_file():
        console.print(f"[red]error:[/red] no backup file {file}")
        raise typer.Exit(1)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        used = one_row(conn.execute("select to_regclass('public.ownstream_meta') is not null"))[0]
        if used and not clean:
            console.print(
                "[red]error:[/red] the database already holds an Ownstream schema: "
                "restore into an empty database, or add --clean to replace it"
            )
            raise typer.Exit(1)
        timescale = (
            b"EXTENSION - timescaledb"
            in subprocess.run([_tool("pg_restore"), "--list", str(file)], capture_output=True).stdout
        )
        if timescale:  # TimescaleDB's catalog must be restored with its triggers off
            conn.execute("create extension if not exists timescaledb")
            conn.execute("select timescaledb_pre_restore()")
    if clean:
        code, errors = _replace_schema(settings.database_url, file)
    else:
        done = subprocess.run(
            [
                _tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={settings.database_url}",
                str(file),
            ],
            capture_output=True,
            text=True,
        )
        code, errors = done.returncode, done.stderr
    if timescale:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("select timescaledb_post_restore()")
    if code:
        console.print(f"[red]error:[/red] restore failed (nothing was changed): {errors.strip()}")
        raise typer.Exit(1)
    console.print(f"restored {file}; run `ownstream migrate` if this version is newer than the backup's")

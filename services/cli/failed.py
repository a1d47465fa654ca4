"""`ownstream failed list|show|requeue|purge`: the jobs that used up their retries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from redis import Redis
from redis.exceptions import RedisError
from rich.table import Table

from services.cli.console import console, emit_json, out, report
from shared import dead_letters
from shared.config import get_settings
from shared.redis_clients import redis_client

failed_app = typer.Typer(help="Jobs that failed past their retries (dead letters).", no_args_is_help=True)


def _redis() -> Redis:
    settings = get_settings()
    redis = redis_client(settings, socket_timeout=10)
    try:
        redis.ping()
    except RedisError as error:
        console.print(f"[red]error:[/red] Redis unreachable: {error}")
        raise typer.Exit(1) from None
    return redis


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


@failed_app.command("list")
def failed_list(
    limit: Annotated[int, typer.Option(min=1, help="show at most this many, newest first")] = 100,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Failed jobs, newest first: when, how many messages, which datasets, why."""
    jobs = dead_letters.failed_jobs(_redis(), get_settings(), limit)
    if json:
        emit_json([job.summary() for job in jobs])
        return
    if not jobs:
        console.print("no failed jobs")
        return
    table = Table(title=f"{len(jobs)} failed job(s)", title_justify="left")
    table.add_column("id", no_wrap=True)
    for column in ("failed at (UTC)", "messages", "datasets", "error"):
        table.add_column(column)
    for job in jobs:
        table.add_row(job.id, _when(job.failed_at), str(job.messages), ",".join(map(str, job.datasets)), job.error)
    out.print(table)


@failed_app.command("show")
def failed_show(job_id: str, json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One failed job: its messages' datasets and formats, and the full error."""
    job = dead_letters.failed_job(_redis(), get_settings(), job_id)
    if job is None:
        console.print(f"[red]error:[/red] no failed job {job_id!r}")
        raise typer.Exit(1)
    if json:
        emit_json({**job.summary(), "exc_info": job.exc_info})
        return
    out.print(f"job {job.id}: {job.messages} message(s), datasets {job.datasets}, formats {job.formats}")
    out.print(f"enqueued {_when(job.enqueued_at)}, failed {_when(job.failed_at)} (UTC)")
    out.print(job.exc_info, markup=False, highlight=False)


def _targets(job_ids: list[str], everything: bool) -> list[str]:
    if everything == bool(job_ids):
        console.print("[red]error:[/red] give job ids or --all (not both)")
        raise typer.Exit(2)
    settings = get_settings()
    return dead_letters.registry(_redis(), settings).get_job_ids() if everything else job_ids


@failed_app.command("requeue")
def failed_requeue(
    job_ids: Annotated[list[str] | None, typer.Argument(help="failed job ids")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every failed job")] = False,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Queue failed jobs again; storing is idempotent, so rows already written are not written twice."""
    wanted = _targets(job_ids or [], everything)
    done = dead_letters.requeue(_redis(), get_settings(), wanted)
    _report("requeued", wanted, done, json)


@failed_app.command("purge")
def failed_purge(
    job_ids: Annotated[list[str] | None, typer.Argument(help="failed job ids")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every failed job")] = False,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Delete failed jobs for good (their messages are not stored)."""
    wanted = _targets(job_ids or [], everything)
    done = dead_letters.purge(_redis(), get_settings(), wanted)
    _report("purged", wanted, done, json)


def _report(verb: str, wanted: list[str], done: list[str], json: bool) -> None:
    missing = [job_id for job_id in wanted if job_id not in done]
    report(json, {verb: done, "not_found": missing}, f"{verb} {len(done)} job(s)")
    for job_id in missing:
        console.print(f"[red]error:[/red] no failed job {job_id!r}")
    if missing:
        raise typer.Exit(1)

"""`ownstream migrate | worker | serve | up | status`: running the platform's processes."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated, Any

import typer

from services.cli.console import console
from shared.config import get_settings
from shared.logs import configure_logging, uvicorn_log_config
from shared.metrics import prepare_multiprocess
from shared.process import freeze_startup_objects

# uvicorn factories (services/cli/served.py): each HTTP process builds its app, then freezes it out of collection
APPS = {
    "ingest": "services.cli.served:ingest",
    "api": "services.cli.served:api",
    "all": "services.cli.served:combined",
}


def migrate() -> None:
    """Create or upgrade the database schema."""
    from shared.migrate import upgrade

    settings = get_settings()
    try:
        upgrade(settings)
    except RuntimeError as error:  # a refusal such as OWNSTREAM_TIMESCALEDB=on without the extension
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print("database schema is up to date")


def worker(
    burst: Annotated[bool, typer.Option("--burst", help="drain the queue, then exit")] = False,
    name: Annotated[str | None, typer.Option(help="worker name (default: host and pid)")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Prometheus metrics port (0: off)")] = None,
) -> None:
    """Run one worker: takes batches from the queue and writes them to the database."""
    from services.worker.runner import run_worker

    settings = get_settings()
    configure_logging(settings)
    freeze_startup_objects()
    ok = run_worker(settings, burst=burst, name=name, metrics_port=metrics_port)
    raise typer.Exit(0 if ok else 1)


def serve(
    service: Annotated[str, typer.Argument(help="ingest, api, or all (both on one port)")],
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    host: Annotated[str | None, typer.Option(help="address to bind")] = None,
    processes: Annotated[int | None, typer.Option(help="HTTP worker processes")] = None,
) -> None:
    """Serve one HTTP service with uvicorn."""
    import uvicorn

    from shared.http_timeouts import DeadlineProtocol

    settings = get_settings()
    options: dict[str, Any] = {}  # more keyword arguments of uvicorn.run
    if service not in APPS:
        console.print(f"[red]error:[/red] unknown service {service!r}: choose ingest, api or all")
        raise typer.Exit(2)
    default_port = {"ingest": settings.ingest_port, "api": settings.api_port, "all": settings.port}[service]
    configure_logging(settings)
    prepare_multiprocess(processes or settings.http_processes)
    if (log_config := uvicorn_log_config(settings)) is not None:
        options["log_config"] = log_config
    # uvicorn drains (stops accepting, answers what is in flight, runs the shutdown) and then raises the signal
    # again; exit 0 then, as a graceful stop.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        APPS[service],
        factory=True,
        host=host or settings.host,
        port=port or default_port,
        workers=processes or settings.http_processes,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        http=DeadlineProtocol,
        **options,
    )


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def up(
    port: Annotated[int | None, typer.Option(help="the one HTTP port for ingest and API")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
    processes: Annotated[int | None, typer.Option(help="HTTP worker processes")] = None,
) -> None:
    """Run everything: migrations, HTTP (ingest and API on one port), workers, the MQTT bridge."""
    from services.cli.supervisor import Supervisor

    settings = get_settings()
    migrate()
    port = port or settings.port
    me = [sys.executable, "-m", "services.cli"]
    supervisor = Supervisor()
    supervisor.add(
        "http", [*me, "serve", "all", "--port", str(port), "--processes", str(processes or settings.http_processes)]
    )
    for index in range(settings.workers if workers is None else workers):
        metrics_port = settings.worker_metrics_port + index if settings.worker_metrics_port else 0
        supervisor.add(
            f"worker-{index + 1}",
            [*me, "worker", "--name", f"ownstream-{os.getpid()}-{index + 1}", "--metrics-port", str(metrics_port)],
        )
    for name, command in extra_processes(me):
        supervisor.add(name, command)
    console.print(f"Ownstream on http://{settings.host}:{port}  (ingest and API; Ctrl-C stops everything)")
    console.print(f"Dashboard: http://{settings.host}:{port}/  (first visit creates the first user)")
    raise typer.Exit(supervisor.run())


def extra_processes(me: list[str]) -> list[tuple[str, list[str]]]:
    """Processes beyond HTTP and workers that `up` runs (the MQTT bridge, when installed)."""
    try:
        import services.ingest.mqtt  # noqa: F401
    except ImportError:
        return []
    return [("mqtt", [*me, "mqtt"])]

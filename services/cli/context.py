"""What the CLI's management commands share: a database session factory, error exits, change announcements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session, sessionmaker

from services.cli.console import console
from shared.config import get_settings
from shared.db import make_engine, make_session_factory, transaction
from shared.errors import OwnstreamError
from shared.keys import announce_key_change
from shared.redis_clients import redis_client


def sessions() -> sessionmaker[Session]:
    return make_session_factory(make_engine(get_settings(), pool_size=1, max_overflow=0))


def fail(error: OwnstreamError) -> None:
    console.print(f"[red]error:[/red] {error.detail or error.error}")
    raise typer.Exit(1)


@contextmanager
def command_transaction() -> Iterator[Session]:
    """A command's one transaction; a refused change (OwnstreamError) ends the command with its message, and
    changes nothing."""
    try:
        with transaction(sessions()) as session:
            yield session
    except OwnstreamError as error:
        fail(error)


def announce() -> None:
    """Tell running receivers that keys, tokens or variables changed."""
    settings = get_settings()
    if not announce_key_change(redis_client(settings), settings.redis_namespace):
        console.print(
            "[yellow]warning:[/yellow] could not notify receivers through Redis; "
            "they re-read keys once they reach it again"
        )

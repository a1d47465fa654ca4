"""Database engines and sessions (SQLAlchemy 2 on psycopg 3), plus raw psycopg connections for COPY."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from shared.config import Settings

Row = TypeVar("Row")


def make_engine(settings: Settings, *, pool_size: int = 5, max_overflow: int = 10, url: str | None = None) -> Engine:
    """An engine for the configured database (or `url`, a postgresql:// URL)."""
    return create_engine(
        settings.sqlalchemy_url if url is None else "postgresql+psycopg://" + url[len("postgresql://") :],
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def one_row(cur: psycopg.Cursor[Row]) -> Row:
    """The row of a query that always answers one (an aggregate, a function call)."""
    row = cur.fetchone()
    if row is None:
        raise LookupError("the query answered no row")  # impossible for such a query: a bug, not bad input
    return row


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed at the end of the block, or rolled back on error."""
    with factory() as session, session.begin():
        yield session


def connect_raw(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """A plain psycopg connection, for COPY and other work below the ORM."""
    return psycopg.connect(settings.database_url, autocommit=autocommit, connect_timeout=5)


def connect_reads(settings: Settings) -> psycopg.Connection:
    """A plain connection for reading readings: to the replica when OWNSTREAM_READ_DATABASE_URL is set."""
    return psycopg.connect(settings.reads_url, connect_timeout=5)

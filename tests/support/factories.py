"""Builders for test data, through the same service functions the CLI and API use."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings
from shared.datasets import VariableSpec, create_dataset, create_user
from shared.db import make_engine, make_session_factory, transaction

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class MadeDataset:
    id: int
    read_key: str
    write_key: str
    owner: str


def make_user(settings: Settings, username: str = "alice", password: str = PASSWORD) -> int:
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    try:
        with transaction(make_session_factory(engine)) as session:
            return create_user(session, username, password).id
    finally:
        engine.dispose()


def make_dataset(
    settings: Settings,
    *,
    owner: str = "alice",
    name: str = "Weather",
    variables: tuple[str, ...] = ("temperature", "humidity", "status", "door"),
    public: bool = False,
    accept_new_variables: bool | None = None,
) -> MadeDataset:
    """A dataset owned by `owner` (created if missing) with the given variable tags.

    `accept_new_variables` None: the product's default (on only for a dataset made without variables).
    """
    from sqlalchemy import select

    from shared.models import User

    engine = make_engine(settings, pool_size=1, max_overflow=0)
    try:
        with transaction(make_session_factory(engine)) as session:
            user = session.scalar(select(User).where(User.username == owner))
            if user is None:
                user = create_user(session, owner, PASSWORD)
            dataset, keys = create_dataset(
                session,
                user,
                name,
                [VariableSpec(t) for t in variables],
                public=public,
                accept_new_variables=accept_new_variables,
            )
            return MadeDataset(dataset.id, keys.read_key, keys.write_key, owner)
    finally:
        engine.dispose()


def make_token(settings: Settings, username: str = "alice") -> str:
    """A personal API token for `username` (created with the default password if missing)."""
    from shared.tokens import create_user_token

    engine = make_engine(settings, pool_size=1, max_overflow=0)
    try:
        with transaction(make_session_factory(engine)) as session:
            user = _user(session, username)
            return create_user_token(session, user, "test")[1]
    finally:
        engine.dispose()


def make_device(settings: Settings, dataset_id: int, device_id: str = "car1") -> str:
    """Register `device_id` in the dataset (as its owner); returns the device token."""
    from shared.datasets import get_dataset
    from shared.devices import create_device

    engine = make_engine(settings, pool_size=1, max_overflow=0)
    try:
        with transaction(make_session_factory(engine)) as session:
            return create_device(session, get_dataset(session, dataset_id).owner, dataset_id, device_id)[1]
    finally:
        engine.dispose()


def _user(session, username: str):
    from sqlalchemy import select

    from shared.models import User

    user = session.scalar(select(User).where(User.username == username))
    return user if user is not None else create_user(session, username, PASSWORD)

"""FastAPI dependencies for the API app: the request's session, the logged-in user, read access."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from redis import Redis
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.datasets import dataset_for_key, get_dataset
from shared.errors import Forbidden, Unauthorized
from shared.models import Dataset, User


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed when the handler returns without error."""
    with request.app.state.sessions() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_redis(request: Request) -> Redis:
    return request.app.state.redis


RedisDep = Annotated[Redis, Depends(get_redis)]


def optional_user(request: Request, session: SessionDep) -> User | None:
    user_id = request.session.get("user_id")
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None:
        request.session.clear()
    return user


OptionalUserDep = Annotated[User | None, Depends(optional_user)]


def current_user(user: OptionalUserDep) -> User:
    if user is None:
        raise Unauthorized("log in first")
    return user


UserDep = Annotated[User, Depends(current_user)]


def read_key_from(
    x_read_key: Annotated[str | None, Header()] = None,
    key: Annotated[str | None, Query()] = None,
    api_key: Annotated[str | None, Query()] = None,
) -> str | None:
    return x_read_key or key or api_key


ReadKeyDep = Annotated[str | None, Depends(read_key_from)]


def readable_dataset(dataset_id: int, session: SessionDep, user: OptionalUserDep, key: ReadKeyDep) -> Dataset:
    """The dataset if this request may read it: public, its owner's session, or its read key."""
    dataset = get_dataset(session, dataset_id)
    if dataset.public or (user is not None and user.id == dataset.owner_id):
        return dataset
    if key is None:
        raise Unauthorized("this dataset is private: send its read key (X-Read-Key or ?key=)")
    if dataset_for_key(session, key, "read") != dataset.id:
        raise Unauthorized("invalid read key for this dataset")
    return dataset


ReadableDatasetDep = Annotated[Dataset, Depends(readable_dataset)]


def owned_dataset(dataset_id: int, session: SessionDep, user: UserDep) -> Dataset:
    dataset = get_dataset(session, dataset_id)
    if dataset.owner_id != user.id:
        raise Forbidden("this dataset belongs to another user")
    return dataset


OwnedDatasetDep = Annotated[Dataset, Depends(owned_dataset)]

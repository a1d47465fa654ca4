"""Who is looking at a dashboard page, and which datasets they may see or manage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.api.deps import CookieUserDep, SessionDep
from shared.datasets import find_dataset, missing_dataset
from shared.errors import Unauthorized
from shared.models import Dataset, User


@dataclass(frozen=True)
class Viewer:
    """Who the navigation bar names; plain values, so that an error page can show them after a rollback."""

    id: int
    username: str


def page_user(request: Request, cookie: CookieUserDep) -> User | None:
    """The session's user (pages take no API tokens)."""
    request.state.viewer = Viewer(cookie.id, cookie.username) if cookie is not None else None
    return cookie


PageUserDep = Annotated[User | None, Depends(page_user)]


def logged_in(user: PageUserDep) -> User:
    if user is None:
        raise Unauthorized("log in first")
    return user


LoggedInDep = Annotated[User, Depends(logged_in)]


def viewable_dataset(dataset_id: int, session: SessionDep, user: PageUserDep) -> Dataset:
    """A public dataset, or one of the user's own; another user's private dataset does not exist for them."""
    dataset = find_dataset(session, dataset_id)
    if dataset is not None and (dataset.public or (user is not None and dataset.owner_id == user.id)):
        return dataset
    if user is None:  # a stranger goes to the login page whether or not the dataset exists
        raise Unauthorized("log in to see this dataset")
    raise missing_dataset(dataset_id)


ViewableDatasetDep = Annotated[Dataset, Depends(viewable_dataset)]


def own_dataset(dataset_id: int, session: SessionDep, user: LoggedInDep) -> Dataset:
    dataset = find_dataset(session, dataset_id)
    if dataset is None or dataset.owner_id != user.id:
        raise missing_dataset(dataset_id)
    return dataset


OwnDatasetDep = Annotated[Dataset, Depends(own_dataset)]

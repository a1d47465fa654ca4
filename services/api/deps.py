"""FastAPI dependencies for the API app: the request's session, the acting user, read access."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from redis import Redis
from sqlalchemy.orm import Session

from services.api.sessions import session_user
from shared.config import Settings
from shared.datasets import dataset_for_key, find_dataset, missing_dataset, owned_by
from shared.device_accounts import DeviceAccounts
from shared.devices import device_for_token
from shared.errors import Forbidden, Unauthorized
from shared.keys import announce_key_change, bearer_token
from shared.models import Dataset, User
from shared.tokens import user_for_token


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed when the handler returns without error."""
    with request.app.state.sessions() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_read_session(request: Request, primary: SessionDep) -> Iterator[Session]:
    """The session readings are read in: on the replica when OWNSTREAM_READ_DATABASE_URL is set, else the
    request's own session (no second connection)."""
    if request.app.state.read_sessions is None:
        yield primary
        return
    with request.app.state.read_sessions() as session, session.begin():
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_redis(request: Request) -> Redis:
    return request.app.state.redis


RedisDep = Annotated[Redis, Depends(get_redis)]


def get_device_accounts(settings: SettingsDep) -> DeviceAccounts:
    return DeviceAccounts(settings)


AccountsDep = Annotated[DeviceAccounts, Depends(get_device_accounts)]


class Announcer:
    """Tells every receiver that keys, tokens or variables changed: call it after the commit (a Redis failure is
    logged, not raised; receivers also re-read what they cached when they cannot ask Redis)."""

    def __init__(self, redis: RedisDep, settings: SettingsDep) -> None:
        self.redis, self.namespace = redis, settings.redis_namespace

    def __call__(self) -> None:
        announce_key_change(self.redis, self.namespace)


AnnounceDep = Annotated[Announcer, Depends()]


class DeviceChange:
    """What registering, re-keying or revoking a device takes: the session, the broker's device accounts, and the
    receivers to tell after the commit."""

    def __init__(self, session: SessionDep, accounts: AccountsDep, announce: AnnounceDep) -> None:
        self.session, self.accounts, self.announce = session, accounts, announce


DeviceChangeDep = Annotated[DeviceChange, Depends()]


def request_bearer(authorization: Annotated[str | None, Header()] = None) -> str | None:
    """The request's Bearer token: a personal API token or a device token."""
    return bearer_token(authorization)


BearerDep = Annotated[str | None, Depends(request_bearer)]


def cookie_user(request: Request, session: SessionDep) -> User | None:
    """The user logged in with the session cookie, unless that session was revoked."""
    return session_user(request, session)


CookieUserDep = Annotated[User | None, Depends(cookie_user)]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def optional_user(request: Request, session: SessionDep, cookie: CookieUserDep, bearer: BearerDep) -> User | None:
    """The user this request acts for: the session cookie's, or a personal API token's.

    A browser sends the cookie with requests that other sites make it send; a change made on the cookie's
    authority is refused when the browser says it comes from another origin (SameSite=Lax ignores ports).
    """
    if cookie is not None:
        origin = request.headers.get("origin")
        if request.method not in SAFE_METHODS and origin is not None and origin != own_origin(request):
            raise Forbidden("cross-site request refused: use the dashboard, or a personal API token")
        return cookie
    return user_for_token(session, bearer) if bearer else None


OptionalUserDep = Annotated[User | None, Depends(optional_user)]


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def current_user(user: OptionalUserDep) -> User:
    if user is None:
        raise Unauthorized("log in first, or send a personal API token as Authorization: Bearer <token>")
    return user


UserDep = Annotated[User, Depends(current_user)]


def logged_in_user(cookie: CookieUserDep) -> User:
    """The session cookie's user; for actions a token must not do by itself (minting more tokens)."""
    if cookie is None:
        raise Unauthorized("log in first (this needs a session, not a token)")
    return cookie


LoggedInUserDep = Annotated[User, Depends(logged_in_user)]


def read_key_from(
    x_read_key: Annotated[str | None, Header()] = None,
    key: Annotated[str | None, Query()] = None,
    api_key: Annotated[str | None, Query()] = None,
) -> str | None:
    return x_read_key or key or api_key


ReadKeyDep = Annotated[str | None, Depends(read_key_from)]


def readable_dataset(
    dataset_id: int, session: SessionDep, user: OptionalUserDep, key: ReadKeyDep, bearer: BearerDep
) -> Dataset:
    """The dataset if this request may read it: public, its owner, its read key, or one of its device tokens.

    A private dataset the caller may not read answers exactly as a missing one, after the same lookups,
    so that neither the status, the body nor the time taken tells whether it exists.
    """
    dataset = find_dataset(session, dataset_id)
    if dataset is not None and (dataset.public or (user is not None and user.id == dataset.owner_id)):
        return dataset
    allowed = key is not None and dataset_for_key(session, key, "read") == dataset_id
    for token in {t for t in (key, bearer) if t is not None}:
        device = device_for_token(session, token)
        allowed = allowed or (device is not None and device.dataset_id == dataset_id)
    if dataset is None or not allowed:
        raise missing_dataset(dataset_id)
    return dataset


ReadableDatasetDep = Annotated[Dataset, Depends(readable_dataset)]


def owned_dataset(dataset_id: int, session: SessionDep, user: UserDep) -> Dataset:
    return owned_by(session, user, dataset_id)


OwnedDatasetDep = Annotated[Dataset, Depends(owned_dataset)]

"""Users, datasets, variables and keys: the management operations the CLI and the API share.

Functions take a Session and never commit: the caller (a request or a CLI command) owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.errors import BadRequest, Conflict, Forbidden, NotFound
from shared.keys import generate_key, hash_key
from shared.models import Dataset, DatasetKey, Device, Series, User, Variable, readings, readings_packed
from shared.passwords import hash_password, verify_password
from shared.values import VARIABLE_RE

KeyKind = Literal["read", "write"]
MAX_RETENTION_DAYS = 36_500  # a century: beyond that, keep forever (no retention)
FIRST_USER_LOCK = 73_110_010  # advisory lock serializing first-user setups
DATASET_WRITE_LOCK = 73_110_011  # advisory lock space (with the dataset id): writers share it, deletion excludes


@dataclass(frozen=True)
class VariableSpec:
    tag: str
    name: str = ""
    unit: str | None = None

    @classmethod
    def parse(cls, text: str) -> VariableSpec:
        """`TAG[:Display name]` as given on the command line."""
        tag, _, name = text.partition(":")
        return cls(tag=tag.strip(), name=name.strip())


def check_tag(tag: str) -> str:
    if not VARIABLE_RE.match(tag):
        raise BadRequest(f"variable tag {tag!r} is not valid: 1-200 of letters, digits and _ . - : / @")
    return tag


def create_user(session: Session, username: str, password: str) -> User:
    username = username.strip()
    if not username or len(username) > 64:
        raise BadRequest("username must be 1 to 64 characters")
    if len(password) < 8:
        raise BadRequest("password must be at least 8 characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} exists")
    user = User(username=username, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def create_first_user(session: Session, username: str, password: str) -> User:
    """The install's first user; refused once any user exists, even when two setups race."""
    session.execute(text("select pg_advisory_xact_lock(:lock)"), {"lock": FIRST_USER_LOCK})
    if session.scalar(select(func.count()).select_from(User)):
        raise Conflict("setup is done: a user exists already")
    return create_user(session, username, password)


def has_users(session: Session) -> bool:
    return session.scalar(select(User.id).limit(1)) is not None


def change_password(session: Session, user: User, current: str, new: str) -> None:
    if not verify_password(user.password_hash, current):
        raise BadRequest("the current password is wrong")
    if len(new) < 8:
        raise BadRequest("password must be at least 8 characters")
    user.password_hash = hash_password(new)
    session.flush()


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not verify_password(user.password_hash, password):
        return None
    return user


def user_by_name(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


@dataclass(frozen=True)
class NewKeys:
    read_key: str
    write_key: str


def create_dataset(
    session: Session,
    owner: User,
    name: str,
    variables: list[VariableSpec],
    *,
    description: str = "",
    public: bool = False,
    retention_days: int | None = None,
    accept_new_variables: bool | None = None,
) -> tuple[Dataset, NewKeys]:
    """A new dataset with its variables and a fresh read and write key (returned in clear, once).

    `accept_new_variables` defaults to on for a dataset made without variables and off for one that declared them.
    """
    if not name.strip():
        raise BadRequest("a dataset needs a name")
    seen: set[str] = set()
    for spec in variables:
        check_tag(spec.tag)
        if spec.tag in seen:
            raise BadRequest(f"variable {spec.tag!r} given twice")
        seen.add(spec.tag)
    if retention_days is not None and not 0 < retention_days <= MAX_RETENTION_DAYS:
        raise BadRequest(f"retention_days must be between 1 and {MAX_RETENTION_DAYS}")
    if accept_new_variables is None:
        accept_new_variables = not variables
    dataset = Dataset(
        owner=owner,
        name=name.strip(),
        description=description,
        public=public,
        retention_days=retention_days,
        accept_new_variables=accept_new_variables,
    )
    dataset.variables = [
        Variable(tag=spec.tag, name=spec.name or spec.tag, unit=spec.unit, position=i)
        for i, spec in enumerate(variables)
    ]
    session.add(dataset)
    session.flush()
    keys = NewKeys(read_key=_new_key(session, dataset, "read"), write_key=_new_key(session, dataset, "write"))
    return dataset, keys


def _new_key(session: Session, dataset: Dataset, kind: KeyKind) -> str:
    key = generate_key()
    session.add(DatasetKey(dataset_id=dataset.id, kind=kind, key_hash=hash_key(key)))
    return key


def regenerate_key(session: Session, dataset: Dataset, kind: KeyKind) -> str:
    """Revoke the dataset's current `kind` key and issue a new one (returned in clear, once)."""
    if kind not in ("read", "write"):
        raise BadRequest("key kind must be read or write")
    session.execute(
        update(DatasetKey)
        .where(DatasetKey.dataset_id == dataset.id, DatasetKey.kind == kind, DatasetKey.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return _new_key(session, dataset, kind)


def add_variable(session: Session, dataset: Dataset, spec: VariableSpec) -> Variable:
    """Declare a variable; one registered on first sight becomes declared (keeping its place), not a conflict."""
    check_tag(spec.tag)
    found = session.scalar(select(Variable).where(Variable.dataset_id == dataset.id, Variable.tag == spec.tag))
    if found is not None and not found.declared:
        found.declared, found.name, found.unit = True, spec.name or found.name, spec.unit or found.unit
        session.flush()
        return found
    last = session.scalar(select(func.max(Variable.position)).where(Variable.dataset_id == dataset.id))
    variable = Variable(
        dataset_id=dataset.id,
        tag=spec.tag,
        name=spec.name or spec.tag,
        unit=spec.unit,
        position=0 if last is None else last + 1,
    )
    try:
        with session.begin_nested():
            session.add(variable)
    except IntegrityError:
        raise Conflict(f"variable {spec.tag!r} exists") from None
    session.expire(dataset, ["variables"])
    return variable


def update_dataset(
    session: Session,
    dataset: Dataset,
    *,
    name: str,
    description: str,
    public: bool,
    accept_new_variables: bool | None = None,
) -> None:
    """Change the dataset's settings; `accept_new_variables` None leaves that one as it is."""
    if not name.strip():
        raise BadRequest("a dataset needs a name")
    if len(name.strip()) > 200:
        raise BadRequest("a dataset name is at most 200 characters")
    dataset.name, dataset.description, dataset.public = name.strip(), description, public
    if accept_new_variables is not None:
        dataset.accept_new_variables = accept_new_variables
    dataset.updated_at = datetime.now(UTC)
    session.flush()


def delete_dataset(session: Session, dataset: Dataset) -> list[str]:
    """Delete the dataset with its keys, devices, series and readings (readings have no foreign key to cascade).

    Returns the ids of its devices, whose broker accounts the caller removes once this is committed.
    """
    # Waits for workers writing this dataset, and holds new ones off until the deletion is committed.
    session.execute(text("select pg_advisory_xact_lock(:space, :id)"), {"space": DATASET_WRITE_LOCK, "id": dataset.id})
    devices = list(session.scalars(select(Device.device_id).where(Device.dataset_id == dataset.id)))
    series_ids = select(Series.id).where(Series.dataset_id == dataset.id).scalar_subquery()
    session.execute(delete(readings).where(readings.c.series_id.in_(series_ids)))
    session.execute(delete(readings_packed).where(readings_packed.c.series_id.in_(series_ids)))
    session.delete(dataset)
    session.flush()
    return devices


def missing_dataset(dataset_id: int) -> NotFound:
    """The one answer for a dataset that does not exist and for a private one the caller may not see."""
    return NotFound(f"no dataset {dataset_id}")


def find_dataset(session: Session, dataset_id: int) -> Dataset | None:
    if not 0 < dataset_id < 2**31:  # datasets.id is an integer column: nothing else can exist
        return None
    return session.get(Dataset, dataset_id)


def get_dataset(session: Session, dataset_id: int) -> Dataset:
    dataset = find_dataset(session, dataset_id)
    if dataset is None:
        raise missing_dataset(dataset_id)
    return dataset


def owned_by(session: Session, user: User, dataset_id: int) -> Dataset:
    """The user's own dataset; another user's is 403 if public, and answers as missing (404) if private."""
    dataset = find_dataset(session, dataset_id)
    if dataset is None or (dataset.owner_id != user.id and not dataset.public):
        raise missing_dataset(dataset_id)
    if dataset.owner_id != user.id:
        raise Forbidden("this dataset belongs to another user")
    return dataset


def dataset_for_key(session: Session, key: str, kind: KeyKind) -> int | None:
    """The dataset a valid (unrevoked) key of `kind` belongs to."""
    return session.scalar(
        select(DatasetKey.dataset_id).where(
            DatasetKey.key_hash == hash_key(key), DatasetKey.kind == kind, DatasetKey.revoked_at.is_(None)
        )
    )

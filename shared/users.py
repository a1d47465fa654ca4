"""Users as an administrator manages them: list, set a password, delete. Callers commit."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.datasets import delete_dataset
from shared.errors import BadRequest
from shared.models import Dataset, User
from shared.passwords import hash_password


def list_users(session: Session) -> list[tuple[User, int]]:
    """Every user with how many datasets they own, by id."""
    counts = select(Dataset.owner_id, func.count().label("n")).group_by(Dataset.owner_id).subquery()
    rows = session.execute(
        select(User, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.owner_id == User.id).order_by(User.id)
    )
    return [(user, int(n)) for user, n in rows]


def set_password(session: Session, user: User, password: str) -> None:
    """An administrator's reset: no current password needed."""
    if len(password) < 8:
        raise BadRequest("password must be at least 8 characters")
    user.password_hash = hash_password(password)
    session.flush()


def delete_user(session: Session, user: User) -> list[tuple[int, str]]:
    """Delete the user with their datasets (and readings); returns (dataset id, device id) of removed devices."""
    devices: list[tuple[int, str]] = []
    for dataset in list(session.scalars(select(Dataset).where(Dataset.owner_id == user.id))):
        devices += [(dataset.id, device) for device in delete_dataset(session, dataset)]
    session.delete(user)
    session.flush()
    return devices

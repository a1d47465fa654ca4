"""Personal API tokens: a user's stand-in for the session cookie on the management API.

Functions take a Session and never commit: the caller (a request or a CLI command) owns the transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from shared.errors import BadRequest, NotFound
from shared.keys import generate_key, hash_key
from shared.models import User, UserToken

# last_used_at is a hint for people, not an audit log: refresh it at most this often to spare writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_user_token(session: Session, user: User, name: str = "") -> tuple[UserToken, str]:
    """A new token for `user`; the clear token is returned here, once."""
    name = name.strip()
    if len(name) > 100:
        raise BadRequest("a token name is at most 100 characters")
    token = generate_key()
    row = UserToken(user_id=user.id, name=name, token_hash=hash_key(token))
    session.add(row)
    session.flush()
    return row, token


def list_user_tokens(session: Session, user: User) -> list[UserToken]:
    """The user's tokens that are still valid, oldest first."""
    return list(
        session.scalars(
            select(UserToken).where(UserToken.user_id == user.id, UserToken.revoked_at.is_(None)).order_by(UserToken.id)
        )
    )


def revoke_user_token(session: Session, user: User, token_id: int) -> None:
    """Revoke one of the user's tokens; 404 if it is not theirs or already revoked."""
    revoked = session.execute(
        update(UserToken)
        .where(UserToken.id == token_id, UserToken.user_id == user.id, UserToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    if cast(CursorResult[Any], revoked).rowcount == 0:
        raise NotFound(f"no token {token_id}")


def user_for_token(session: Session, token: str) -> User | None:
    """The user a valid personal token acts for, or None."""
    row = session.scalar(
        select(UserToken).where(UserToken.token_hash == hash_key(token), UserToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
    return session.get(User, row.user_id)


def describe_token(row: UserToken) -> dict:
    return {"id": row.id, "name": row.name, "created_at": row.created_at, "last_used_at": row.last_used_at}

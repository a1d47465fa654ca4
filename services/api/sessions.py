"""Login sessions: the signed cookie names a user and the session epoch it was issued under.

A cookie is only as good as the user's current epoch: logout, a password change or deleting the user raise
or remove it, which ends every copy of every cookie issued before, on every process, at once.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import update
from sqlalchemy.orm import Session

from shared.models import User


def start_session(request: Request, user: User) -> None:
    """A fresh session for the user (a new CSRF token too, so a token seen before login is worthless)."""
    request.session.clear()
    request.session["user_id"] = user.id
    request.session["epoch"] = user.session_epoch


def session_user(request: Request, session: Session) -> User | None:
    """The cookie's user while the cookie's epoch is still the user's; otherwise the cookie is cleared."""
    user_id = request.session.get("user_id")
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or request.session.get("epoch") != user.session_epoch:
        request.session.clear()
        return None
    return user


def end_sessions(session: Session, user: User) -> None:
    """Revoke every session cookie the user has (this one included), wherever it was copied to."""
    session.execute(update(User).where(User.id == user.id).values(session_epoch=User.session_epoch + 1))
    session.refresh(user, ["session_epoch"])

"""Personal API tokens: made, listed and revoked by a logged-in user; sent as `Authorization: Bearer`."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from services.api.deps import LoggedInUserDep, SessionDep
from shared.tokens import create_user_token, describe_token, list_user_tokens, revoke_user_token

router = APIRouter(prefix="/api/v1/tokens")


class TokenIn(BaseModel):
    name: str = Field(default="", max_length=100)


@router.post("", status_code=201)
def new_token(session: SessionDep, user: LoggedInUserDep, body: TokenIn | None = None) -> dict:
    """A new token, shown in this answer only."""
    row, token = create_user_token(session, user, body.name if body else "")
    return {**describe_token(row), "token": token}


@router.get("")
def tokens(session: SessionDep, user: LoggedInUserDep) -> list[dict]:
    return [describe_token(row) for row in list_user_tokens(session, user)]


@router.delete("/{token_id}", status_code=204)
def revoke(token_id: int, session: SessionDep, user: LoggedInUserDep) -> Response:
    revoke_user_token(session, user, token_id)
    return Response(status_code=204)

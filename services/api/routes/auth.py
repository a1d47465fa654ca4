"""Session login for people (the dashboard and the API share the signed session cookie)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.api.deps import OptionalUserDep, SessionDep
from shared.datasets import authenticate
from shared.errors import Unauthorized

router = APIRouter(prefix="/api/v1/auth")


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/login")
def login(body: Login, request: Request, session: SessionDep) -> dict:
    user = authenticate(session, body.username, body.password)
    if user is None:
        raise Unauthorized("wrong username or password")
    request.session.clear()
    request.session["user_id"] = user.id
    return {"id": user.id, "username": user.username}


@router.post("/logout")
def logout(request: Request) -> dict:
    request.session.clear()
    return {"logged_out": True}


@router.get("/me")
def me(user: OptionalUserDep) -> dict:
    if user is None:
        raise Unauthorized("not logged in")
    return {"id": user.id, "username": user.username}

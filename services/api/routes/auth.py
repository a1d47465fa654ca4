"""Session login for people (the dashboard and the API share the signed session cookie)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.api.deps import CookieUserDep, OptionalUserDep, SessionDep
from services.api.login_limit import LoginLimiterDep, client_address
from services.api.sessions import end_sessions, start_session
from shared.datasets import authenticate
from shared.errors import Unauthorized

router = APIRouter(prefix="/api/v1/auth")


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/login")
def login(body: Login, request: Request, session: SessionDep, limiter: LoginLimiterDep) -> dict:
    address = client_address(request)
    limiter.check(body.username, address)
    user = authenticate(session, body.username, body.password)
    if user is None:
        limiter.failed(body.username, address)
        raise Unauthorized("wrong username or password")
    limiter.succeeded(body.username)
    start_session(request, user)
    return {"id": user.id, "username": user.username}


@router.post("/logout")
def logout(request: Request, session: SessionDep, cookie: CookieUserDep) -> dict:
    if cookie is not None:
        end_sessions(session, cookie)
    request.session.clear()
    return {"logged_out": True}


@router.get("/me")
def me(user: OptionalUserDep) -> dict:
    if user is None:
        raise Unauthorized("not logged in")
    return {"id": user.id, "username": user.username}

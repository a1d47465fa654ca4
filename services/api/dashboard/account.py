"""Dashboard pages for people: first-user setup, login, logout, password change."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.api.dashboard import forms
from services.api.dashboard.csrf import FormDep
from services.api.dashboard.deps import LoggedInDep, PageUserDep
from services.api.dashboard.render import PageRoute, notify, page, redirect
from services.api.deps import SessionDep
from services.api.login_limit import LoginLimiterDep, client_address
from services.api.sessions import end_sessions, start_session
from shared.datasets import authenticate, change_password, create_first_user, has_users
from shared.errors import BadRequest, NotFound, OwnstreamError, RateLimited

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def local_path(target: str | None) -> str:
    """`target` if it is a path on this site, else the dashboard (no redirects elsewhere)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


@router.get("/")
def home(session: SessionDep, user: PageUserDep) -> Response:
    if user is not None:
        return redirect("/dashboard")
    return redirect("/login" if has_users(session) else "/setup")


@router.get("/setup")
def setup_form(request: Request, session: SessionDep, user: PageUserDep) -> Response:
    if has_users(session):
        raise NotFound("setup is done; log in instead")
    return page(request, "setup.html")


@router.post("/setup")
def setup(request: Request, session: SessionDep, form: FormDep, user: PageUserDep) -> Response:
    if has_users(session):
        raise NotFound("setup is done; log in instead")
    username = forms.text(form, "username", 64)
    password, confirm = forms.text(form, "password", 1024), forms.text(form, "confirm", 1024)
    try:
        if password != confirm:
            raise BadRequest("the two passwords differ")
        created = create_first_user(session, username, password)
    except OwnstreamError as error:
        return page(request, "setup.html", status_code=error.status_code, error=error.detail, username=username)
    session.commit()
    start_session(request, created)
    notify(request, f"Welcome, {created.username}. Create your first dataset.")
    return redirect("/dashboard")


@router.get("/login")
def login_form(request: Request, session: SessionDep, user: PageUserDep, next: str | None = None) -> Response:
    if user is not None:
        return redirect(local_path(next))
    if not has_users(session):
        return redirect("/setup")
    return page(request, "login.html", next=local_path(next))


@router.post("/login")
def login(request: Request, session: SessionDep, form: FormDep, limiter: LoginLimiterDep) -> Response:
    username, password = forms.text(form, "username", 64), forms.text(form, "password", 1024)
    target = local_path(forms.text(form, "next", 2000))
    address = client_address(request)
    try:
        limiter.check(username, address)
    except RateLimited as error:
        return page(
            request,
            "login.html",
            status_code=429,
            error=error.detail.capitalize() + ".",
            username=username,
            next=target,
            headers=error.headers,
        )
    user = authenticate(session, username, password)
    if user is None:
        limiter.failed(username, address)
        return page(
            request, "login.html", status_code=401, error="Wrong username or password.", username=username, next=target
        )
    limiter.succeeded(username)
    start_session(request, user)
    return redirect(target)


@router.post("/logout")
def logout(request: Request, session: SessionDep, form: FormDep, user: PageUserDep) -> Response:
    if user is not None:
        end_sessions(session, user)
    request.session.clear()
    notify(request, "You are logged out.")
    return redirect("/login")


@router.get("/settings")
def settings_form(request: Request, user: LoggedInDep) -> Response:
    return page(request, "settings.html")


@router.post("/settings/password")
def password(request: Request, session: SessionDep, user: LoggedInDep, form: FormDep) -> Response:
    current, new = forms.text(form, "current", 1024), forms.text(form, "password", 1024)
    try:
        if new != forms.text(form, "confirm", 1024):
            raise BadRequest("the two new passwords differ")
        change_password(session, user, current, new)
    except OwnstreamError as error:
        return page(request, "settings.html", status_code=error.status_code, error=error.detail)
    end_sessions(session, user)  # a copied cookie dies with the old password; this browser logs in afresh
    session.commit()
    start_session(request, user)
    notify(request, "Your password is changed.")
    return redirect("/settings")

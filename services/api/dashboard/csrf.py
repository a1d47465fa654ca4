"""CSRF protection for the dashboard's forms: one random token per session, checked on every POST form."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from shared.errors import Forbidden

SESSION_KEY = "csrf"
FIELD = "csrf_token"


def csrf_token(request: Request) -> str:
    """This session's token, created on first use."""
    token = request.session.get(SESSION_KEY)
    if not token:
        token = request.session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


async def checked_form(request: Request) -> FormData:
    """The request's form, if it carries this session's CSRF token."""
    form = await request.form()
    expected = request.session.get(SESSION_KEY)
    given = form.get(FIELD)
    if not expected or not isinstance(given, str) or not secrets.compare_digest(expected, given):
        raise Forbidden("the form's security token is missing or out of date: reload the page and try again")
    return form


FormDep = Annotated[FormData, Depends(checked_form)]

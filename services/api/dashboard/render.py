"""Rendering dashboard pages: templates, one-time notices, and errors as HTML pages instead of JSON."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from services.api.dashboard.csrf import csrf_token
from shared.errors import BadRequest, OwnstreamError, Unauthorized

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")
TEMPLATES.env.globals["csrf_token"] = csrf_token
NO_STORE = {"Cache-Control": "no-store"}
STEPS = (
    (86_400 * 365, "year"),
    (86_400 * 30, "month"),
    (86_400 * 7, "week"),
    (86_400, "day"),
    (3600, "hour"),
    (60, "minute"),
    (1, "second"),
)


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """`moment` as a relative time: "3 minutes ago", "in 2 hours", "just now"."""
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if abs(seconds) < 5:
        return "just now"
    size, unit = next((s, u) for s, u in STEPS if abs(seconds) >= s)
    count = int(abs(seconds) // size)
    words = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{words} ago" if seconds > 0 else f"in {words}"


def utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


TEMPLATES.env.filters["ago"] = ago
TEMPLATES.env.filters["utc"] = utc


class PageRoute(APIRoute):
    """A dashboard route: its errors are shown as pages, a missing login sends the browser to the login page."""


def notify(request: Request, message: str, *, error: bool = False) -> None:
    """A notice (or an error) shown once, on the next page rendered."""
    request.session["notice_error" if error else "notice"] = message


def page(
    request: Request, template: str, status_code: int = 200, headers: dict | None = None, **context: object
) -> Response:
    context.setdefault("user", getattr(request.state, "viewer", None))
    context["notice"] = request.session.pop("notice", None)
    context["notice_error"] = request.session.pop("notice_error", None)
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code, headers=headers)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _is_page(request: Request) -> bool:
    return isinstance(request.scope.get("route"), PageRoute)


async def _answer(answer: Response | Awaitable[Response]) -> Response:
    """A Starlette exception handler's answer: handlers may be plain or async functions."""
    return await answer if inspect.isawaitable(answer) else answer


def install_page_errors(app: FastAPI) -> None:
    """Errors of dashboard routes become HTML pages; the API's errors stay JSON."""
    json_handlers = {kind: app.exception_handlers[kind] for kind in (OwnstreamError, RequestValidationError)}

    async def ownstream_error(request: Request, error: OwnstreamError) -> Response:
        if not _is_page(request):
            return await _answer(json_handlers[OwnstreamError](request, error))
        if isinstance(error, Unauthorized) and request.method == "GET":
            return redirect("/login?next=" + quote(request.url.path, safe="/"))
        return page(request, "error.html", status_code=error.status_code, error=error)

    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        if not _is_page(request):
            return await _answer(json_handlers[RequestValidationError](request, error))
        return page(request, "error.html", status_code=400, error=BadRequest("that request is not valid"))

    app.exception_handler(OwnstreamError)(ownstream_error)
    app.exception_handler(RequestValidationError)(validation_error)

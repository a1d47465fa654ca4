"""The single-reading push (`/update`, `/update.json`) handed straight to its route handler.

Devices push one reading per request, thousands of times a second, so the framework's per-request routing and
middleware cost more than the work itself. The same handler runs with the same rules and the same error answers;
only the dispatch is direct. Everything else goes through the app as usual.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from services.ingest.http import update
from services.ingest.metrics import measured
from shared.config import Settings
from shared.http import error_response, known_error

PATHS = frozenset({"/update", "/update.json"})
METHODS = frozenset({"GET", "POST"})


def is_push(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["path"] in PATHS and scope["method"] in METHODS


async def push(app: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one push with `update`, turning errors into responses as the app's handlers would."""
    scope["app"] = app
    try:
        response = await update(Request(scope, receive))
    except Exception as error:
        mapped = known_error(error)
        if mapped is None:
            raise
        response = error_response(mapped)
    await response(scope, receive, send)


class FastPush:
    """The ingest app with pushes dispatched directly (`ownstream serve ingest`)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_push(scope):
            await measured(self._push, scope, receive, send)
        else:
            await measured(self.app, scope, receive, send)

    async def _push(self, scope: Scope, receive: Receive, send: Send) -> None:
        await push(self.app, scope, receive, send)


def create_server(settings: Settings | None = None) -> FastPush:
    from services.ingest.app import create_app

    return FastPush(create_app(settings))

"""Ingest and API on one HTTP port (`ownstream up`, `ownstream serve all`).

The two apps stay separate: each request goes to the ingest app when one of its routes matches, else to the API
app. Ingest requests so skip the API's middleware (sessions), which would cost the hot push path a third of its
time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from services.api.app import api_lifespan
from services.api.app import create_app as create_api_app
from services.ingest.app import create_app as create_ingest_app
from services.ingest.app import ingest_lifespan
from services.ingest.fastpath import is_push, push
from services.ingest.metrics import measured
from shared.config import Settings, get_settings

HEALTH_PATHS = ("/healthz", "/readyz", "/metrics")


class Combined:
    """An ASGI app dispatching by route to the ingest app or the API app; runs both lifespans."""

    def __init__(self, settings: Settings) -> None:
        self.ingest = create_ingest_app(settings)
        self.api = create_api_app(settings)
        self._ingest_routes = self.ingest.router.routes

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(ingest_lifespan(self.ingest))
            await stack.enter_async_context(api_lifespan(self.api))
            yield

    def _app_for(self, scope: Scope) -> FastAPI:
        if scope.get("path") in HEALTH_PATHS:
            return self.api  # both have them; the API's readiness also covers the read replica when there is one
        for route in self._ingest_routes:
            if route.matches(scope)[0] is Match.FULL:
                return self.ingest
        return self.api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif is_push(scope):
            await measured(self._push, scope, receive, send)
        else:
            app = self._app_for(scope)
            if app is self.ingest:
                await measured(app, scope, receive, send)
            else:
                await app(scope, receive, send)

    async def _push(self, scope: Scope, receive: Receive, send: Send) -> None:
        await push(self.ingest, scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        async with AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self.lifespan())
            except Exception as error:
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                raise
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        await send({"type": "lifespan.shutdown.complete"})


def create_app(settings: Settings | None = None) -> Combined:
    return Combined(settings or get_settings())

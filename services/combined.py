"""Ingest and API on one HTTP port (`ownstream up`, `ownstream serve all`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api.app import api_lifespan, include_api
from services.ingest.app import include_ingest, ingest_lifespan
from shared.config import Settings, get_settings
from shared.http import JSON, install_error_handlers


@asynccontextmanager
async def combined_lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with ingest_lifespan(app), api_lifespan(app):
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="Ownstream", lifespan=combined_lifespan, default_response_class=JSON)
    app.state.settings = settings or get_settings()
    install_error_handlers(app)
    include_ingest(app)
    include_api(app, app.state.settings)
    return app

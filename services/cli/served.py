"""The apps `ownstream serve` runs (uvicorn factories, one call per HTTP process): each is built, then what the
process holds at that point is left out of garbage collection (shared.process).

A batch upload makes a dict or more per record when its body is checked (AutoPi: 1,000 records), which triggers
full collections that walked every module, class and route the process had imported: under B2 AutoPi that was
a tenth of the HTTP process's samples, and freezing took its CPU per value from 1.27 to 1.06 us
(bench/README.md, "Garbage collection in the HTTP process"). Apps built elsewhere (tests) are not frozen.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp

from shared.process import freeze_startup_objects


def _frozen(factory: Callable[[], ASGIApp]) -> ASGIApp:
    app = factory()
    freeze_startup_objects()
    return app


def ingest() -> ASGIApp:
    from services.ingest.fastpath import create_server

    return _frozen(create_server)


def api() -> ASGIApp:
    from services.api.app import create_app

    return _frozen(create_app)


def combined() -> ASGIApp:
    from services.combined import create_app

    return _frozen(create_app)

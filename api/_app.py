"""The FastAPI application: ``create_app(settings)``.

The database pool is owned by the app's lifespan (opened at startup, closed at shutdown); nothing connects at
import time. Routes live in ``api/_routes_*.py`` (each exposes ``router``) and the web page in ``api/web``; they are
included in name order so that the OpenAPI document is stable.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from psycopg_pool import ConnectionPool

from api._limits import BodyLimit
from vigie import __version__
from vigie.settings import Settings

log = logging.getLogger(__name__)


def _routers() -> list[APIRouter]:
    found: list[APIRouter] = []
    here = str(Path(__file__).parent)
    names = sorted(m.name for m in pkgutil.iter_modules([here]) if m.name.startswith("_routes_"))
    if (Path(here) / "web" / "__init__.py").exists():
        names.append("web")
    for name in names:
        module = importlib.import_module(f"api.{name}")
        found.append(module.router)
    return found


def create_app(settings: Settings) -> FastAPI:
    """Build the API and web page for ``settings``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: ConnectionPool = ConnectionPool(
            settings.dsn, min_size=1, max_size=settings.api_pool_max, open=False, timeout=10, name="vigie-api"
        )
        await anyio.to_thread.run_sync(lambda: pool.open(wait=True, timeout=15))
        app.state.pool = pool
        log.info("API ready (pool of %d connections)", settings.api_pool_max)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(pool.close)

    app = FastAPI(
        title="Vigie API",
        version=__version__,
        description="Remote monitoring for vets: animals, readings, alerts, recommendation drafts a vet approves.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    for router in _routers():
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    return app

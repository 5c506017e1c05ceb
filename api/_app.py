"""The FastAPI application: ``create_app(settings)``.

The database pool is owned by the app's lifespan (opened at startup, closed at shutdown); nothing connects at
import time. Routes live in ``api/_routes_*.py`` (each exposes ``router``) and the web page in ``api/web``; they are
included in name order so that the OpenAPI document is stable.
"""

from __future__ import annotations

import importlib
import logging
import math
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


def _json_safe(value: object) -> object:
    """NaN and infinities (which JSON cannot carry) as text, anywhere in ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, but one that can show a refused NaN (its default handler fails on it with a 500)."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this class only
    return JSONResponse(status_code=422, content={"detail": _json_safe(jsonable_encoder(exc.errors()))})


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
    app.add_exception_handler(RequestValidationError, _validation_error)
    for router in _routers():
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    return app

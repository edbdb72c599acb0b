"""The Starlette application: /graphql, GraphiQL's assets, /healthz and /readyz."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hub import migrate
from hub.db import create_engine, read_engine
from hub.http import graphql_endpoint
from hub.settings import Settings
from schema import schema as default_schema

STATIC_DIR = Path(__file__).parent / "static"


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    engine: AsyncEngine = request.app.state.engine
    try:
        current = await migrate.current_revision(engine)
    except Exception as exc:  # any failure to reach the store means not ready
        return JSONResponse({"status": "unavailable", "database": str(exc)[:200]}, status_code=503)
    head = migrate.head_revision()
    if current != head:
        return JSONResponse(
            {"status": "migrations pending", "current": current, "head": head}, status_code=503
        )
    return JSONResponse({"status": "ready", "revision": current})


def create_app(database_url: str, settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_engine(database_url, pool_size=settings.pool_size)
        app.state.engine = read_engine(engine)
        try:
            yield
        finally:
            await engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql_endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.schema = default_schema
    return app

"""The Starlette application: /graphql, GraphiQL's assets, /healthz and /readyz."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from hub import migrate
from hub.auth.guard import Gatekeeper, document_hash
from hub.compiled import CompiledQueries
from hub.db import asyncpg_dsn, create_engine, read_engine
from hub.errors import ErrorCode, StoreUnavailableError, error_entry
from hub.events.broker import broker_for
from hub.events.feed import ChangeFeed
from hub.http import graphql_endpoint
from hub.pipeline import Documents, Limits
from hub.settings import Settings
from hub.tuning import tune_gc
from hub.ws import LiveEndpoint
from schema import schema as default_schema

STATIC_DIR = Path(__file__).parent / "static"


DASHBOARD_PAGE = STATIC_DIR / "dashboard" / "index.html"


async def dashboard(request: Request) -> FileResponse:
    """The governor's page: static files that use only the public GraphQL API."""
    return FileResponse(DASHBOARD_PAGE, media_type="text/html")


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


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """The store was needed before a request reached GraphQL (an API key's lookup, the
    audit log) and is down: 503 with the stable code, not Starlette's bare text 500."""
    body = {"errors": [error_entry(ErrorCode.STORE_UNAVAILABLE, str(exc))]}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})


class InsecureSettings(RuntimeError):
    """Production refuses to start with development secrets."""


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_cost=settings.max_cost,
        default_page=settings.default_page_size,
    )


def load_trusted(path: Path | None) -> dict[str, str] | None:
    """The trusted documents: a JSON object {sha256: document} (ids are checked)."""
    if path is None:
        return None
    data = orjson.loads(Path(path).read_bytes())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of sha256 → document")
    for key, document in data.items():
        if not isinstance(document, str) or document_hash(document) != key.removeprefix("sha256:"):
            raise ValueError(f"{path}: {key} is not the sha256 of its document")
    return {k.removeprefix("sha256:"): v for k, v in data.items()}


Background = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def create_app(
    database_url: str, settings: Settings, *, background: Sequence[Background] = ()
) -> Starlette:
    """The app; `background` jobs (the sync loop, the demo's simulator) run while it serves
    and are asked to stop through their event at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.gc_threshold:
            tune_gc(settings.gc_threshold)
        engine = create_engine(database_url, pool_size=settings.pool_size)
        app.state.engine = read_engine(engine)
        app.state.gate = Gatekeeper(settings, app.state.engine)
        app.state.compiled = (
            CompiledQueries(default_schema._schema, app.state.engine, settings)
            if settings.compiled_queries
            else None
        )
        dsn = asyncpg_dsn(database_url)
        feed = ChangeFeed(dsn, broker=broker_for(settings.broker_url, dsn))
        await feed.start()
        app.state.feed = feed
        stop = asyncio.Event()
        jobs = [asyncio.create_task(job(stop)) for job in background]
        try:
            yield
        finally:
            stop.set()
            if jobs:
                _, late = await asyncio.wait(jobs, timeout=10)
                for job in late:
                    job.cancel()
                await asyncio.gather(*jobs, return_exceptions=True)
            await feed.stop()
            await engine.dispose()

    live = LiveEndpoint(default_schema, init_timeout=settings.ws_init_timeout_seconds)
    app = Starlette(
        routes=[
            Route("/graphql", graphql_endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            WebSocketRoute("/graphql", live),
            Route("/dashboard", dashboard),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
        exception_handlers={StoreUnavailableError: store_unavailable},
    )
    if settings.production and settings.production_problems():
        raise InsecureSettings(
            "refusing to serve in production: " + "; ".join(settings.production_problems())
        )
    app.state.settings = settings
    app.state.schema = default_schema
    app.state.documents = Documents(default_schema, limits_of(settings))
    app.state.trusted_documents = load_trusted(settings.trusted_documents)
    app.state.live = live
    return app

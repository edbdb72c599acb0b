"""The Starlette application: /graphql (HTTP and WebSocket), GraphiQL, the dashboard and the
operators' console with their static files, the favicon, /healthz and /readyz."""

from __future__ import annotations

import asyncio
import logging
import posixpath
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
from starlette.types import ASGIApp, Receive, Scope, Send

from hub import migrate
from hub.auth.guard import Gatekeeper, document_hash
from hub.db import asyncpg_dsn, create_engine, read_engine
from hub.errors import ErrorCode, StoreUnavailableError, error_entry
from hub.events.broker import broker_for
from hub.events.feed import ChangeFeed
from hub.serving.compiled import CompiledQueries
from hub.serving.documents import Documents, Limits
from hub.serving.headers import page_headers
from hub.serving.http import graphql_endpoint
from hub.serving.live import Subscriptions
from hub.serving.metrics import allowed_networks, metrics_endpoint
from hub.serving.opendata.ical import agenda_feed
from hub.serving.opendata.routes import export_endpoint, ocds_endpoint
from hub.serving.request import Api
from hub.serving.sse import StreamEndpoint
from hub.serving.upload import upload_monev
from hub.serving.ws import LiveEndpoint
from hub.settings import Settings
from hub.store.replicas import ReadReplicas
from hub.telemetry import tracing
from hub.tuning import tune_gc
from resolvers.context import Process
from schema import schema as default_schema

log = logging.getLogger("rantai.app")

STATIC_DIR = Path(__file__).parent.parent / "static"
DASHBOARD_PAGE = STATIC_DIR / "dashboard" / "index.html"
ADMIN_PAGE = STATIC_DIR / "admin" / "index.html"
FAVICON = STATIC_DIR / "favicon.svg"

PAGE_HEADERS = page_headers()


async def dashboard(request: Request) -> FileResponse:
    """The governor's page: static files that use only the public GraphQL API."""
    return FileResponse(DASHBOARD_PAGE, media_type="text/html", headers=PAGE_HEADERS)


async def admin_console(request: Request) -> FileResponse:
    """The operators' console: static files over GraphQL; its data needs an admin key."""
    return FileResponse(ADMIN_PAGE, media_type="text/html", headers=PAGE_HEADERS)


async def favicon(request: Request) -> FileResponse:
    return FileResponse(
        FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
    )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    engine: AsyncEngine = request.app.state.engine
    try:
        current = await migrate.current_revision(engine)
    except Exception:  # any failure to reach the store means not ready; the log says why
        log.warning("not ready: the store cannot be reached", exc_info=True)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    head = migrate.head_revision()
    if current != head:
        return JSONResponse(
            {"status": "migrations pending", "current": current, "head": head}, status_code=503
        )
    return JSONResponse({"status": "ready", "revision": current})


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """The store was needed before a request reached GraphQL (an API key's lookup) and is
    down: 503 with the stable code, not Starlette's bare text 500."""
    body = {"errors": [error_entry(ErrorCode.STORE_UNAVAILABLE, str(exc))]}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})


class StaticFilesForViewers:
    """The static files; GraphiQL's page only where GraphiQL itself is served (in
    production, to authenticated browsers only: the page is useless without /graphql)."""

    def __init__(self, settings: Settings) -> None:
        self.files: ASGIApp = StaticFiles(directory=STATIC_DIR)
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # As the file server will resolve it ("//", "./", "x/../" and all).
        path = posixpath.normpath("/" + scope.get("path", "").replace("\\", "/"))
        if self.settings.production and path.endswith("/graphiql/index.html"):
            response = Response("Not found.", status_code=404, media_type="text/plain")
            await response(scope, receive, send)
            return
        await self.files(scope, receive, send)


class InsecureSettings(RuntimeError):
    """Production refuses to start with development secrets."""


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_fields=settings.max_fields,
        max_cost=settings.max_cost,
        max_variable_depth=settings.max_variable_depth,
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
    if settings.production and settings.production_problems():
        raise InsecureSettings(
            "refusing to serve in production: " + "; ".join(settings.production_problems())
        )
    documents = Documents(default_schema, limits_of(settings))
    trusted = load_trusted(settings.trusted_documents)
    live = LiveEndpoint(
        init_timeout=settings.ws_init_timeout_seconds,
        max_per_address=settings.ws_max_connections_per_address,
        max_connections=settings.ws_max_connections,
    )
    streams = StreamEndpoint(
        max_per_address=settings.ws_max_connections_per_address,
        max_connections=settings.ws_max_connections,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.gc_threshold:
            tune_gc(settings.gc_threshold)
        tracing.setup()
        engine = create_engine(database_url, pool_size=settings.pool_size)
        tracing.trace_statements(engine.sync_engine)
        app.state.engine = read_engine(engine)
        gate = app.state.gate = Gatekeeper(settings, app.state.engine)
        compiled = (
            CompiledQueries(default_schema._schema, app.state.engine, settings)
            if settings.compiled_queries
            else None
        )
        dsn = asyncpg_dsn(database_url)
        feed = ChangeFeed(dsn, broker=broker_for(settings.broker_url, dsn))
        feed.on_revoked.append(live.revoked)
        feed.on_revoked.append(streams.revoked)
        await feed.start()
        app.state.feed = feed
        replicas = None
        if settings.replica_urls:
            replicas = ReadReplicas(
                app.state.engine, settings.replica_urls, settings.replica_max_lag_seconds,
                pool_size=settings.pool_size,
            )  # fmt: skip
            await replicas.start()
        app.state.replicas = replicas
        subscriptions = Subscriptions(default_schema, app.state.engine, settings, feed, replicas)
        process = Process(
            broker=feed.broker, declines=(lambda: compiled.declined) if compiled else dict
        )
        app.state.api = Api(
            settings, default_schema, app.state.engine, gate, documents, subscriptions,
            compiled, trusted, replicas, process,
        )  # fmt: skip
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
            if replicas is not None:
                await replicas.stop()
            await engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql_endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            WebSocketRoute("/graphql", live),
            Route("/graphql/stream", streams),
            Route("/dashboard", dashboard),
            Route("/admin", admin_console),
            Route("/favicon.ico", favicon),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/ocds/{region}/{year}/{kind}.json", ocds_endpoint),
            Route("/export/{view}.{fmt}", export_endpoint),
            Route("/upload/monev", upload_monev, methods=["POST"]),
            Route("/agenda/{region}.ics", agenda_feed),
            Route("/agenda/{region}/{opd}.ics", agenda_feed),
            Mount("/static", StaticFilesForViewers(settings), name="static"),
        ],
        lifespan=lifespan,
        exception_handlers={StoreUnavailableError: store_unavailable},
    )
    app.state.settings = settings
    app.state.schema = default_schema
    app.state.documents = documents
    app.state.live = live
    app.state.streams = streams
    app.state.metrics_networks = allowed_networks(settings.metrics_addresses)
    return app

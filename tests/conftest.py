"""Fixtures: a real PostgreSQL for the whole run, migrated and seeded once.

With RANTAI_DATABASE_URL set (CI sets it to this machine's server), each run creates its
own database there and drops it afterwards; unset, the tests start an embedded PostgreSQL
from the pgserver wheel in a temporary folder, as a new user's machine would.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import filestamp
from adapters.mapping import SourceMapping
from estate.synthetic import seed_canonical
from hub.db import EmbeddedPostgres, normalise_database_url
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.serving.server import LiveProtocol, config
from hub.settings import Settings
from hub.sync.verify import verify_source

SEEDED_SUB_ACTIVITIES = 600
MARIADB_URL = os.environ.get("RANTAI_MARIADB_URL", "mysql://root@127.0.0.1:3306")

# The data tests (sync totals, queries, subscriptions…) read as the province viewer without
# credentials; they were written before access control and are about the data. Access
# control itself is tested with the default, public, in tests/test_security.py, and
# production refuses this setting.
os.environ.setdefault("RANTAI_DEV_ANONYMOUS_ROLE", "province")


async def mariadb_reachable() -> bool:
    """Tests of MariaDB sources skip, saying so, on a machine without a MariaDB server."""
    import aiomysql

    from estate.writers import mysql_kwargs

    try:
        conn = await aiomysql.connect(**mysql_kwargs(MARIADB_URL), connect_timeout=3)
    except Exception:
        return False
    conn.close()
    return True


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Server:
    """A PostgreSQL server on which tests create throwaway databases."""

    admin_url: str
    created: list[str] = field(default_factory=list)

    async def create_database(self, prefix: str = "rantai_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(asyncpg_dsn(self.admin_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    async def drop_all(self) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(self.admin_url))
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(autouse=True)
def sqlite_never_settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests write their SQLite sources moments before a sync and say what its read finds:
    their files never count as settled, so no sync skips them because it happened to start
    two seconds after the write (adapters/filestamp.py). tests/test_sync_unchanged.py sets
    its own margin."""
    settle_within(monkeypatch, 1e9)


async def assert_verified(store_url: str, source: SourceMapping) -> None:
    """The store holds exactly the source's rows (`rantai verify`)."""
    conn = await asyncpg.connect(asyncpg_dsn(store_url))
    try:
        result = await verify_source(conn, source)
    finally:
        await conn.close()
    assert result.ok, result.as_json()


def settle_within(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Files settle `seconds` after they last changed, whatever their file system's tick
    (adapters/filestamp.py)."""
    monkeypatch.setattr(filestamp, "SETTLED_SECONDS", seconds)
    monkeypatch.setattr(filestamp, "FINE_SETTLED_SECONDS", seconds)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    configured = os.environ.get("RANTAI_DATABASE_URL")
    if configured:
        yield normalise_database_url(configured)
        return
    # Not under pytest's basetemp: another pytest session of the same user prunes all but
    # its three newest basetemps at start, and a server whose data folder is removed under
    # it shuts down in the middle of this run.
    folder = Path(tempfile.mkdtemp(prefix="rantai-tests-"))
    embedded = EmbeddedPostgres(folder)
    url = embedded.start()
    try:
        yield url
    finally:
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
async def server(pg_server: str) -> AsyncIterator[Server]:
    srv = Server(pg_server)
    yield srv
    await srv.drop_all()


@pytest.fixture(scope="session")
async def store_url(server: Server) -> str:
    """A migrated store seeded with a synthetic province (shared; tests only read it)."""
    url = await server.create_database()
    await run_async(url, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await seed_canonical(conn, sub_activities=SEEDED_SUB_ACTIVITIES, seed=7)
    finally:
        await conn.close()
    return url


@pytest.fixture(scope="session")
async def db(store_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection to the shared store, for checking answers directly."""
    conn = await asyncpg.connect(asyncpg_dsn(store_url))
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(database_url=None, max_page_size=500)


class StatementCounter:
    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def reset(self) -> None:
        self.statements.clear()


@dataclass
class Api:
    client: httpx.AsyncClient
    counter: StatementCounter
    engine: AsyncEngine

    async def query(
        self, document: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": document, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body

    async def data(self, document: str, variables: dict[str, Any] | None = None) -> Any:
        body = await self.query(document, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture(scope="session")
async def api(store_url: str, settings: Settings) -> AsyncIterator[Api]:
    """The hub as clients use it: pure-data queries take the compiled path."""
    async for hub in _api(store_url, settings):
        yield hub


@pytest.fixture(scope="session")
async def ordinary_api(store_url: str, settings: Settings) -> AsyncIterator[Api]:
    """The hub with the compiled path off: every field goes through the resolvers and
    their DataLoaders (for tests of those)."""
    async for hub in _api(store_url, settings.model_copy(update={"compiled_queries": False})):
        yield hub


async def _api(store_url: str, settings: Settings) -> AsyncIterator[Api]:
    app = create_app(store_url, settings)
    async with app.router.lifespan_context(app):
        engine = app.state.engine
        counter = StatementCounter(engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield Api(client, counter, engine)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def running(
    app: Any, *, ws: Any = LiveProtocol, log_level: str = "warning", **overrides: Any
) -> AsyncIterator[int]:
    """`app` served by uvicorn on a free loopback port in this event loop, configured as
    `rantai serve` runs it (WebSocket through `ws` and uvicorn `overrides` where a test says
    so); yields the port."""
    port = free_port()
    options = config(app, app.state.settings, "127.0.0.1", port, log_level=log_level)
    options.lifespan, options.ws = "on", ws
    for name, value in overrides.items():
        setattr(options, name, value)
    server = uvicorn.Server(options)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await serving

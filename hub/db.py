"""Where the canonical store lives: a configured PostgreSQL server or an embedded one.

With `RANTAI_DATABASE_URL` unset, the hub runs PostgreSQL from the `pgserver` wheel inside
the data dir, so a demo, the tests and production all run the same SQL on the same driver.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import parse_qs, urlsplit

import asyncpg
import asyncpg.pool
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub.errors import StoreUnavailableError, store_unreachable
from hub.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "rantai"

# A connection of its own or one lent by a pool: the statement helpers take either.
PgConnection: TypeAlias = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


class DatabaseError(Exception):
    """The store cannot be used; the message is one line meant for an operator."""


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server run from the pgserver wheel in `<data dir>/pg`.

    A server already running on that folder (another `rantai` process) is reused. Each
    process registers itself in `<data dir>/pg.holders`; the last live holder to leave
    stops the server. Holders that died without leaving are pruned, so a crashed process
    never keeps the server up forever nor stops it under a live one.
    """

    data_dir: Path
    _server: Any = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir.resolve() / "pg"

    def start(self) -> str:
        with _quiet_runtime_dir():
            return self._start()

    def _start(self) -> str:
        import pgserver  # slow import (psutil, platformdirs): only when embedded

        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._holders() as holders:
            try:
                self._server = pgserver.get_server(self.pgdata, cleanup_mode=None)
            except Exception as exc:  # pgserver raises bare subprocess/assert errors
                raise DatabaseError(
                    f"cannot start embedded PostgreSQL in {self.pgdata}: {exc}"
                ) from exc
            holders.add(os.getpid())
        socket_dir = parse_qs(urlsplit(self._server.get_uri()).query)["host"][0]
        asyncio.run(_ensure_database(socket_dir, EMBEDDED_DATABASE))
        return f"postgresql+asyncpg://postgres@/{EMBEDDED_DATABASE}?host={socket_dir}"

    def stop(self) -> None:
        with _quiet_runtime_dir():
            self._stop()

    def _stop(self) -> None:
        if self._server is None:
            return
        from pgserver._commands import pg_ctl

        with self._holders() as holders:
            holders.discard(os.getpid())
            if not holders:
                try:
                    pg_ctl(["-w", "stop"], pgdata=self.pgdata, user=self._server.system_user)
                except Exception as exc:  # already stopped by someone else
                    log.warning("embedded PostgreSQL did not stop cleanly: %s", exc)
        self._server = None

    @contextmanager
    def _holders(self) -> Iterator[set[int]]:
        """The live holder pids, read and written under an exclusive file lock."""
        path = self.data_dir / "pg.holders"
        with open(self.data_dir / "pg.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                pids = {int(p) for p in path.read_text().split()} if path.exists() else set()
                holders = {pid for pid in pids if _alive(pid)}
                yield holders
                path.write_text("".join(f"{pid}\n" for pid in sorted(holders)))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _quiet_runtime_dir() -> Iterator[None]:
    """pgserver asks platformdirs for a runtime dir, which warns on every command when
    XDG_RUNTIME_DIR is unset (a server, a container, a root shell) and then uses
    /tmp/runtime-<uid>, which is what the embedded server needs: not the user's concern."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        yield


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _ensure_database(socket_dir: str, name: str) -> None:
    conn = await asyncpg.connect(host=socket_dir, user="postgres", database="postgres")
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def normalise_database_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` too, and refuse anything that is not PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"RANTAI_DATABASE_URL is not a database URL: {url!r}") from exc
    if parsed.drivername in {"postgresql", "postgres", "postgresql+asyncpg"}:
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise DatabaseError(
        f"RANTAI_DATABASE_URL must be a postgresql+asyncpg:// URL, not {parsed.drivername}://"
    )


def asyncpg_dsn(url: str) -> str:
    """The store's SQLAlchemy URL as a DSN for asyncpg itself."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def resolve_database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The store's URL, starting the embedded server when none is configured."""
    if settings.database_url:
        return normalise_database_url(settings.database_url), None
    embedded = EmbeddedPostgres(settings.data_dir)
    return embedded.start(), embedded


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The store's engine.

    Connections go back to the pool without a reset round trip: readers run in
    autocommit (see `read_engine`) and writers close their own transactions.
    """
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_reset_on_return=None,
        # JIT compiles a large statement (a compiled chain, hub/serving/compiled.py) for longer than
        # it runs. random_page_cost 1.1 (PostgreSQL's default is 4, for spinning disks):
        # the store is small enough to stay in memory, where an index probe costs about
        # a sequential page, and the per-row lookups of a compiled chain then use indexes.
        connect_args={
            "server_settings": {
                "jit": "off",
                "random_page_cost": "1.1",
                "application_name": "rantai",
            }
        },
    )
    event.listen(engine.sync_engine, "handle_error", _unreachable_is_disconnect)
    return engine


def _unreachable_is_disconnect(context: ExceptionContext) -> None:
    """A server shutting down, crashed or still starting refuses sessions with SQLSTATE
    57P01-57P03 or 08xxx, which SQLAlchemy's asyncpg dialect does not count as a disconnect
    (it only looks at closed connections): clients got INTERNAL_SERVER_ERROR while the store
    restarted (bench/faults.py). Counted as one, the pool drops the connection and the error
    carries `connection_invalidated`, which the endpoints answer as STORE_UNAVAILABLE."""
    if not context.is_disconnect and store_unreachable(context.original_exception):
        context.is_disconnect = True


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled connection's asyncpg connection itself, for statements SQLAlchemy need not
    wrap. SQLAlchemy does not see those fail, so a connection that died with one (the
    store restarting: unreachable, or closed under it) is dropped from the pool here."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if driver is None:  # the pool's connection was invalidated under us
            raise StoreUnavailableError()
        try:
            yield driver
        except Exception as exc:
            if store_unreachable(exc) or driver.is_closed():
                await conn.invalidate()
            raise


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, in autocommit: one round trip per statement, no BEGIN/ROLLBACK."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def check_connection(engine: AsyncEngine) -> None:
    """Raise DatabaseError with one clear line when the server cannot be reached."""
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"cannot reach the database at {_safe(engine)}: {exc}") from exc
    except Exception as exc:
        cause = getattr(exc, "orig", None) or exc
        raise DatabaseError(f"cannot reach the database at {_safe(engine)}: {cause}") from exc


def _safe(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=True)

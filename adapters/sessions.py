"""A connection to one SQL engine, as a SQL source reads it: PostgreSQL (asyncpg),
MariaDB/MySQL (aiomysql) and SQLite (aiosqlite); `adapters.sql.SqlAdapter` chooses one by
the source's kind.

Every connection is read-only at the engine level. Rows come through server-side cursors
(PostgreSQL `DECLARE … CURSOR`, MariaDB unbuffered results, SQLite `fetchmany`), one chunk
in memory at a time. Names are quoted per engine; the one parameter a statement may have
(the watermark) is written as PARAM and bound per engine.
"""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import aiomysql
import aiosqlite
import asyncpg

from adapters.apart import file_identity
from adapters.base import (
    AdapterError,
    Row,
    SourceConfig,
    redacted_url,
)
from adapters.blocks import (
    sqlite_functions,
)

Chunks = AsyncGenerator[list[Row], None]
PARAM = "\x00param\x00"  # placeholder for the one parameter, replaced per engine

_MYSQL_NO_SUCH_TABLE = 1146
_PG_UNDEFINED_TABLE = "42P01"


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class Session(ABC):
    """One engine's connection and its dialect."""

    errors: ClassVar[tuple[type[BaseException], ...]]
    quote_char: ClassVar[str]
    tables_sql: ClassVar[str]  # the tables and views a scaffold offers (`name`)
    types_sql: ClassVar[str]  # a table's columns and their declared types (`name`, `type`)

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    @property
    @abstractmethod
    def conn(self) -> Any: ...

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def describe(self, sql: str) -> list[str]:
        """Result column names of `sql` without reading its rows."""

    @abstractmethod
    def iterate(self, sql: str, params: Sequence[Any], size: int) -> Chunks:
        """The rows of `sql` in lists of at most `size`, from a server-side cursor."""

    @abstractmethod
    def is_missing_table(self, exc: BaseException) -> bool: ...

    @abstractmethod
    def bind(self, sql: str, has_param: bool) -> str:
        """`sql` with the parameter placeholder in the engine's own style."""

    def quote(self, name: str) -> str:
        if "\x00" in name or not name:
            raise AdapterError(f"source {self.config.id}: invalid identifier {name!r}")
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    def quote_table(self, name: str) -> str:
        # Dotted table names are schema-qualified (`keuangan.t_dpa`): quote each part.
        return ".".join(self.quote(part) for part in name.split("."))


class PostgresSession(Session):
    errors = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
    quote_char = '"'
    tables_sql = (
        "SELECT table_name AS name FROM information_schema.tables "
        "WHERE table_schema = current_schema() ORDER BY 1"
    )
    types_sql = (
        "SELECT column_name AS name, data_type AS type FROM information_schema.columns "
        f"WHERE table_schema = current_schema() AND table_name = {PARAM} "
        "ORDER BY ordinal_position"
    )

    def __init__(self, config: SourceConfig, url: str) -> None:
        super().__init__(config)
        scheme, sep, rest = url.partition("://")
        if scheme not in ("postgresql", "postgres", "postgresql+asyncpg") or not sep:
            raise AdapterError(
                f"source {config.id}: {redacted_url(url)} is not a postgresql:// URL"
            )
        self.dsn = f"postgresql://{rest}"
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        return self._conn

    async def connect(self) -> None:
        self._conn = await asyncpg.connect(
            self.dsn,
            timeout=self.config.timeout_seconds,
            server_settings={
                "default_transaction_read_only": "on",
                "application_name": f"rantai:{self.config.id}",
            },
        )
        await self._conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close(timeout=self.config.timeout_seconds)

    async def describe(self, sql: str) -> list[str]:
        # Preparing parses and plans the statement without running it.
        statement = await self._conn.prepare(sql)
        return [attribute.name for attribute in statement.get_attributes()]

    async def iterate(self, sql: str, params: Sequence[Any], size: int) -> Chunks:
        # asyncpg cursors only exist inside a transaction.
        async with self._conn.transaction(readonly=True):
            cursor = await self._conn.cursor(sql, *params)
            while True:
                records = await cursor.fetch(size)
                if not records:
                    return
                yield [dict(record.items()) for record in records]
                if len(records) < size:
                    return

    def is_missing_table(self, exc: BaseException) -> bool:
        return getattr(exc, "sqlstate", None) == _PG_UNDEFINED_TABLE

    def bind(self, sql: str, has_param: bool) -> str:
        return sql.replace(PARAM, "$1")


class MariaDbSession(Session):
    errors = (aiomysql.Error, OSError)
    quote_char = "`"
    tables_sql = (
        "SELECT table_name AS name FROM information_schema.tables "
        "WHERE table_schema = DATABASE() ORDER BY 1"
    )
    types_sql = (
        "SELECT column_name AS name, column_type AS type FROM information_schema.columns "
        f"WHERE table_schema = DATABASE() AND table_name = {PARAM} ORDER BY ordinal_position"
    )

    def __init__(self, config: SourceConfig, url: str) -> None:
        super().__init__(config)
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb", "mysql+aiomysql", "mariadb+aiomysql"):
            raise AdapterError(f"source {config.id}: {redacted_url(url)} is not a mysql:// URL")
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.kwargs: dict[str, Any] = {
            "host": parts.hostname or "localhost",
            "port": parts.port or 3306,
            "user": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else "",
            "db": unquote(parts.path.lstrip("/")) or None,
            "unix_socket": options.get("unix_socket"),
            "charset": options.get("charset", "utf8mb4"),
            "connect_timeout": config.timeout_seconds,
            "autocommit": True,
        }
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        return self._conn

    async def connect(self) -> None:
        self._conn = await aiomysql.connect(**self.kwargs)
        cursor = await self._conn.cursor()
        try:
            # Applies to every later transaction of the session, autocommitted ones included.
            await cursor.execute("SET SESSION TRANSACTION READ ONLY")
        finally:
            await cursor.close()

    async def _connected(self) -> Any:
        # A stream abandoned half-way drops its connection (see `iterate`); reconnect then.
        if self._conn is None or self._conn.closed:
            await asyncio.wait_for(self.connect(), self.config.timeout_seconds)
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    async def describe(self, sql: str) -> list[str]:
        conn = await self._connected()
        cursor = await conn.cursor()
        try:
            await cursor.execute(sql)
            return [column[0] for column in cursor.description or ()]
        finally:
            await cursor.close()

    async def iterate(self, sql: str, params: Sequence[Any], size: int) -> Chunks:
        conn = await self._connected()
        cursor = await conn.cursor(aiomysql.SSCursor)
        finished = False
        try:
            await cursor.execute(sql, tuple(params) if params else None)
            names = [column[0] for column in cursor.description or ()]
            while True:
                rows = await cursor.fetchmany(size)
                if not rows:
                    finished = True
                    return
                yield [dict(zip(names, row, strict=True)) for row in rows]
        finally:
            if finished:
                await cursor.close()
            else:
                # Closing an unbuffered cursor early would read (and discard) every
                # remaining row; dropping the connection stops the server at once.
                if self._conn is not None:
                    self._conn.close()
                self._conn = None

    def is_missing_table(self, exc: BaseException) -> bool:
        return bool(exc.args) and exc.args[0] == _MYSQL_NO_SUCH_TABLE

    def bind(self, sql: str, has_param: bool) -> str:
        if not has_param:
            return sql
        # The driver formats `sql % params`: literal percent signs must be doubled.
        return sql.replace("%", "%%").replace(PARAM, "%s")


class SqliteSession(Session):
    errors = (sqlite3.Error, OSError)
    quote_char = '"'
    tables_sql = (
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite_%' ORDER BY 1"
    )
    types_sql = f"SELECT name, type FROM pragma_table_info({PARAM})"

    def __init__(self, config: SourceConfig, url: str) -> None:
        super().__init__(config)
        scheme, sep, rest = url.partition(":///")
        if scheme not in ("sqlite", "sqlite+aiosqlite") or not sep or not rest:
            raise AdapterError(
                f"source {config.id}: {url} is not a sqlite:///path URL "
                "(sqlite:///relative/path or sqlite:////absolute/path)"
            )
        path = Path(unquote(rest.split("?", 1)[0]))
        # `sqlite:////abs` leaves "/abs" (absolute); anything else is relative to base_dir.
        self.path = (path if path.is_absolute() else config.base_dir / path).resolve()
        self._conn: aiosqlite.Connection | None = None
        self.identity = (0, 0)  # the device and inode of the file it opened

    @property
    def conn(self) -> Any:
        return self._conn

    async def connect(self) -> None:
        if not self.path.is_file():
            raise AdapterError(
                f"source {self.config.id}: SQLite database file {self.path} does not exist"
            )
        self.identity = file_identity(self.path)  # which file the connection opens
        conn = await aiosqlite.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
        try:
            if file_identity(self.path) != self.identity:  # replaced while it opened
                raise AdapterError(
                    f"source {self.config.id}: {self.path} was replaced while it was opened"
                )
            # Fails here, not on the first read, when the file is not a SQLite database.
            await conn.execute("SELECT count(*) FROM sqlite_master")
            await conn.execute("PRAGMA query_only = ON")
            for name, function in sqlite_functions().items():  # checksums per block
                await conn.create_function(name, -1, function, deterministic=True)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise AdapterError(f"source {self.config.id}: not open")
        return self._conn

    async def describe(self, sql: str) -> list[str]:
        cursor = await self._connection().execute(sql)
        try:
            return [column[0] for column in cursor.description or ()]
        finally:
            await cursor.close()

    async def iterate(self, sql: str, params: Sequence[Any], size: int) -> Chunks:
        cursor = await self._connection().execute(sql, tuple(params))
        try:
            names = [column[0] for column in cursor.description or ()]
            while True:
                rows = await cursor.fetchmany(size)
                if not rows:
                    return
                yield [dict(zip(names, row, strict=True)) for row in rows]
        finally:
            await cursor.close()

    def is_missing_table(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc)

    def bind(self, sql: str, has_param: bool) -> str:
        return sql.replace(PARAM, "?")

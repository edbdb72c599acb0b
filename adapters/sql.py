"""SQL sources: PostgreSQL (asyncpg), MariaDB/MySQL (aiomysql) and SQLite (aiosqlite).

Every connection is read-only at the engine level, so a mapping's `query` cannot change the
legacy database even by mistake. Rows are streamed through server-side cursors (PostgreSQL
`DECLARE … CURSOR`, MariaDB unbuffered results, SQLite `fetchmany`), one batch in memory at a
time. Table and column names are quoted per engine; values (the watermark) are always passed
as query parameters.
"""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import aiomysql
import aiosqlite
import asyncpg

from adapters import looks
from adapters.base import (
    Adapter,
    AdapterError,
    Batch,
    EntityQuery,
    Look,
    MissingTable,
    Row,
    SourceConfig,
    redacted_url,
)
from adapters.blocks import BLOCK_COLUMN, Dialect, MariaDbDialect, PostgresDialect
from adapters.columns import OfferedColumns
from adapters.filestamp import sqlite_look, sqlite_stamp

_Chunks = AsyncGenerator[list[Row], None]
_PARAM = "\x00param\x00"  # placeholder for the one parameter, replaced per engine

_MYSQL_NO_SUCH_TABLE = 1146
_PG_UNDEFINED_TABLE = "42P01"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class _Session(ABC):
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
    def iterate(self, sql: str, params: Sequence[Any], size: int) -> _Chunks:
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


class _Postgres(_Session):
    errors = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
    quote_char = '"'
    tables_sql = (
        "SELECT table_name AS name FROM information_schema.tables "
        "WHERE table_schema = current_schema() ORDER BY 1"
    )
    types_sql = (
        "SELECT column_name AS name, data_type AS type FROM information_schema.columns "
        f"WHERE table_schema = current_schema() AND table_name = {_PARAM} "
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

    async def iterate(self, sql: str, params: Sequence[Any], size: int) -> _Chunks:
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
        return sql.replace(_PARAM, "$1")


class _MariaDb(_Session):
    errors = (aiomysql.Error, OSError)
    quote_char = "`"
    tables_sql = (
        "SELECT table_name AS name FROM information_schema.tables "
        "WHERE table_schema = DATABASE() ORDER BY 1"
    )
    types_sql = (
        "SELECT column_name AS name, column_type AS type FROM information_schema.columns "
        f"WHERE table_schema = DATABASE() AND table_name = {_PARAM} ORDER BY ordinal_position"
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

    async def iterate(self, sql: str, params: Sequence[Any], size: int) -> _Chunks:
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
        return sql.replace("%", "%%").replace(_PARAM, "%s")


class _Sqlite(_Session):
    errors = (sqlite3.Error, OSError)
    quote_char = '"'
    tables_sql = (
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite_%' ORDER BY 1"
    )
    types_sql = f"SELECT name, type FROM pragma_table_info({_PARAM})"

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

    @property
    def conn(self) -> Any:
        return self._conn

    async def connect(self) -> None:
        if not self.path.is_file():
            raise AdapterError(
                f"source {self.config.id}: SQLite database file {self.path} does not exist"
            )
        conn = await aiosqlite.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
        try:
            # Fails here, not on the first read, when the file is not a SQLite database.
            await conn.execute("SELECT count(*) FROM sqlite_master")
            await conn.execute("PRAGMA query_only = ON")
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

    async def iterate(self, sql: str, params: Sequence[Any], size: int) -> _Chunks:
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
        return sql.replace(_PARAM, "?")


class SqlAdapter(Adapter):
    """A PostgreSQL, MariaDB/MySQL or SQLite source, opened read-only."""

    kinds = ("postgresql", "mariadb", "mysql", "sqlite")

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self._session: _Session | None = None
        self._offered = OfferedColumns()  # checked once while the connection is kept

    @property
    def _conn(self) -> Any:
        """The driver's own connection (tests use it to prove the session is read-only)."""
        return self._require().conn

    def _make_session(self) -> _Session:
        config = self.config
        if not config.url:
            raise AdapterError(f"source {config.id}: no url given for a {config.kind} source")
        if config.kind == "postgresql":
            return _Postgres(config, config.url)
        if config.kind in ("mariadb", "mysql"):
            return _MariaDb(config, config.url)
        if config.kind == "sqlite":
            return _Sqlite(config, config.url)
        raise AdapterError(f"source {config.id}: kind {config.kind!r} is not a SQL kind")

    async def open(self) -> None:
        """Connect read-only; AdapterError naming the source and the cause if that fails."""
        if self._session is not None:
            return
        session = self._make_session()
        where = redacted_url(self.config.url or "")
        failures: tuple[type[BaseException], ...] = (*session.errors, ValueError)
        try:
            await asyncio.wait_for(session.connect(), self.config.timeout_seconds)
        except AdapterError:
            await session.close()
            raise
        except TimeoutError:
            await session.close()
            raise AdapterError(
                f"source {self.config.id}: cannot connect to {where}: "
                f"timed out after {self.config.timeout_seconds:g}s"
            ) from None
        except failures as exc:
            await session.close()
            raise AdapterError(
                f"source {self.config.id}: cannot connect to {where}: {_describe(exc)}"
            ) from exc
        self._session = session

    async def close(self) -> None:
        self._offered.forget()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _require(self) -> _Session:
        if self._session is None:
            raise AdapterError(f"source {self.config.id}: the adapter is not open")
        return self._session

    def _what(self, query: EntityQuery) -> str:
        return f"table {query.table!r}" if query.table else "query"

    def _from(self, session: _Session, query: EntityQuery) -> str:
        if query.table:
            return session.quote_table(query.table)
        if query.query:
            text = query.query.strip().rstrip(";").strip()
            return f"({text}) AS rantai_q"
        raise AdapterError(f"source {self.config.id}: the entity names neither a table nor a query")

    def _failure(self, session: _Session, query: EntityQuery, exc: BaseException) -> AdapterError:
        where, why = f"source {self.config.id}", _describe(exc)
        if query.table and session.is_missing_table(exc):
            return MissingTable(f"{where}: table {query.table!r} does not exist ({why})")
        return AdapterError(f"{where}: cannot read {self._what(query)}: {why}")

    async def columns(self, query: EntityQuery) -> list[str]:
        """Columns of the table, or of the query's result; MissingTable if the table is absent."""
        session = self._require()
        sql = session.bind(f"SELECT * FROM {self._from(session, query)} LIMIT 0", False)
        try:
            return await session.describe(sql)
        except session.errors as exc:
            raise self._failure(session, query, exc) from exc

    async def _check_columns(self, query: EntityQuery, required: Sequence[str]) -> None:
        """MissingColumns naming the `required` columns the table or query does not have."""
        await self._offered.check(self.config.id, query, required, self.columns)

    async def stream(
        self, query: EntityQuery, *, since: Any = None, resume: Any = None
    ) -> AsyncIterator[Batch]:
        """`query.columns` (or all) in batches; with a watermark, ordered by it and after `since`
        (rows whose watermark is NULL only with `since=None`: NULL > x is never true)."""
        session = self._require()
        wanted = list(query.columns)
        if wanted and query.watermark and query.watermark not in wanted:
            # The caller needs the watermark of the last row to resume after it.
            wanted.append(query.watermark)
        required = wanted or ([query.watermark] if query.watermark else [])
        await self._check_columns(query, required)
        select = ", ".join(session.quote(c) for c in wanted) if wanted else "*"
        sql = f"SELECT {select} FROM {self._from(session, query)}"
        params: list[Any] = []
        if query.watermark:
            column = session.quote(query.watermark)
            if since is not None:
                sql += f" WHERE {column} > {_PARAM}"
                params.append(since)
            sql += f" ORDER BY {column}"
        batches = self._batches(query, session.bind(sql, bool(params)), params, required)
        try:
            async for batch in batches:
                yield batch
        finally:
            await batches.aclose()  # type: ignore[attr-defined]  # at once: see `iterate`

    async def _batches(
        self, query: EntityQuery, sql: str, params: Sequence[Any], required: Sequence[str]
    ) -> AsyncIterator[Batch]:
        session = self._require()
        rows = session.iterate(sql, params, max(1, self.config.batch_size))
        try:
            while True:
                try:
                    chunk = await anext(rows)
                except StopAsyncIteration:
                    return
                except session.errors as exc:
                    # A column dropped since it was checked: said as a first check says it.
                    self._offered.forget()
                    await self._check_columns(query, required)
                    raise self._failure(session, query, exc) from exc
                yield Batch(rows=chunk)
        finally:
            await rows.aclose()

    def keepable(self) -> bool:
        return isinstance(self._session, (_Postgres, _MariaDb)) and self._session.conn is not None

    async def reusable(self) -> bool:
        """Its server connection still answers (MariaDB's driver sees nothing unless used)."""
        session = self._session
        if isinstance(session, _Postgres):
            return session.conn is not None and not session.conn.is_closed()
        if not isinstance(session, _MariaDb) or session.conn is None:
            return False
        try:
            await asyncio.wait_for(session.conn.ping(False), self.config.timeout_seconds)
        except (*session.errors, TimeoutError):
            return False
        return True

    def change_stamp(self) -> str | None:
        """A SQLite database's files (`adapters/filestamp.py`); None for a server."""
        if self.config.kind != "sqlite":
            return None
        return sqlite_stamp(_Sqlite(self.config, self.config.url or "").path)

    async def look(self, tables: Sequence[str] | None) -> Look | None:
        """SQLite: its files (`adapters/filestamp.py`); a server: its statistics."""
        if self.config.kind == "sqlite":
            return sqlite_look(_Sqlite(self.config, self.config.url or "").path)
        await self.open()  # at once when it is
        session = self._require()
        try:
            if isinstance(session, _MariaDb):
                return await looks.mariadb(await session._connected(), tables)
            return await looks.postgres(session.conn, tables)
        except session.errors as exc:
            raise AdapterError(f"source {self.config.id}: look failed: {_describe(exc)}") from exc

    # -- checksums per block of keys (adapters/blocks.py) ----------------------------------

    def _blocks(self, query: EntityQuery) -> tuple[Dialect, _Session]:
        """The dialect of checksums per block (SQLite has no hash function in SQL)."""
        session = self._require()
        dialect = {_Postgres: PostgresDialect, _MariaDb: MariaDbDialect}.get(type(session))
        if dialect is None or not query.columns:
            raise AdapterError(f"source {self.config.id}: no checksums for this stream")
        return dialect(session.quote), session

    def supports_blocks(self) -> bool:
        return self.config.kind in ("postgresql", "mariadb", "mysql")

    async def block_sums(
        self, query: EntityQuery, key: Sequence[str], digits: int
    ) -> dict[str, str]:
        """Per non-empty block of `key`'s values: its row count and hash sum ("n:sum")
        over `query.columns`, computed by the source."""
        dialect, session = self._blocks(query)
        sql = dialect.sums_sql(self._from(session, query), key, query.columns, digits)
        try:
            rows = await self._all(sql)
        except AdapterError:
            # A column gone from the table: said as a stream's read says it.
            await self._check_columns(query, [*query.columns, *key])
            raise
        return {str(r[BLOCK_COLUMN]): f"{r['n']}:{r['s']}" for r in rows}

    async def block_rows(
        self, query: EntityQuery, key: Sequence[str], digits: int, blocks: Sequence[str] | None
    ) -> AsyncIterator[Batch]:
        """The rows of `blocks` (None: every row), with each row's block in BLOCK_COLUMN."""
        dialect, session = self._blocks(query)
        required = [*query.columns, *key]
        await self._check_columns(query, required)
        source = self._from(session, query)
        sql = dialect.rows_sql(source, key, query.columns, digits, blocks)
        batches = self._batches(query, session.bind(sql, False), (), required)
        try:
            async for batch in batches:
                yield batch
        finally:
            await batches.aclose()  # type: ignore[attr-defined]  # at once: see `iterate`

    # -- what the source holds (rantai sources scaffold, rantai sources check) ----------------

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        session = self._require()
        rows: list[Row] = []
        chunks = session.iterate(session.bind(sql, bool(params)), params, 1000)
        try:
            async for chunk in chunks:
                rows += chunk
        except session.errors as exc:
            self._offered.forget()
            raise AdapterError(f"source {self.config.id}: {_describe(exc)}") from exc
        finally:
            await chunks.aclose()
        return rows

    async def tables(self) -> list[str]:
        """The tables and views of the database (its current schema)."""
        return [str(r["name"]) for r in await self._all(self._require().tables_sql)]

    async def column_types(self, query: EntityQuery) -> dict[str, str]:
        """Declared types of a table's columns (none for a query)."""
        if not query.table:
            return {}
        rows = await self._all(self._require().types_sql, [query.table])
        return {str(r["name"]): str(r["type"] or "") for r in rows}

    async def aggregate(self, query: EntityQuery, expressions: Sequence[str]) -> Row:
        """One row of aggregate `expressions` (SQL over the columns of `query`, quoted by
        `quote`) computed on every row of the table or query."""
        session = self._require()
        sql = (
            f"SELECT {', '.join(expressions)} FROM "
            f"(SELECT * FROM {self._from(session, query)}) AS rantai_p"
        )
        rows = await self._all(sql)
        return rows[0] if rows else {}

    def quote(self, name: str) -> str:
        return self._require().quote(name)

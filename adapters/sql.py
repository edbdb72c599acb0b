"""SQL sources: PostgreSQL (asyncpg), MariaDB/MySQL (aiomysql) and SQLite (aiosqlite).

Every connection is read-only at the engine level (`adapters/sessions.py`: one engine's
connection), so a mapping's `query` cannot change the legacy database even by mistake.
Rows are streamed through server-side cursors, one batch in memory at a time. Table and
column names are quoted per engine; values (the watermark) are always passed as query
parameters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from adapters import looks
from adapters.apart import sqlite_rows
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
from adapters.blocks import (
    BLOCK_COLUMN,
    Dialect,
    MariaDbDialect,
    PostgresDialect,
    SqliteDialect,
)
from adapters.columns import OfferedColumns
from adapters.filestamp import sqlite_look, sqlite_stamp
from adapters.sessions import (
    PARAM,
    MariaDbSession,
    PostgresSession,
    Session,
    SqliteSession,
    describe_error,
)


class SqlAdapter(Adapter):
    """A PostgreSQL, MariaDB/MySQL or SQLite source, opened read-only."""

    kinds = ("postgresql", "mariadb", "mysql", "sqlite")

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self._session: Session | None = None
        self._offered = OfferedColumns()  # checked once while the connection is kept

    @property
    def _conn(self) -> Any:
        """The driver's own connection (tests use it to prove the session is read-only)."""
        return self._require().conn

    def _make_session(self) -> Session:
        config = self.config
        if not config.url:
            raise AdapterError(f"source {config.id}: no url given for a {config.kind} source")
        if config.kind == "postgresql":
            return PostgresSession(config, config.url)
        if config.kind in ("mariadb", "mysql"):
            return MariaDbSession(config, config.url)
        if config.kind == "sqlite":
            return SqliteSession(config, config.url)
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
                f"source {self.config.id}: cannot connect to {where}: {describe_error(exc)}"
            ) from exc
        self._session = session

    async def close(self) -> None:
        self._offered.forget()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _require(self) -> Session:
        if self._session is None:
            raise AdapterError(f"source {self.config.id}: the adapter is not open")
        return self._session

    def _what(self, query: EntityQuery) -> str:
        return f"table {query.table!r}" if query.table else "query"

    def _from(self, session: Session, query: EntityQuery) -> str:
        if query.table:
            return session.quote_table(query.table)
        if query.query:
            text = query.query.strip().rstrip(";").strip()
            return f"({text}) AS rantai_q"
        raise AdapterError(f"source {self.config.id}: the entity names neither a table nor a query")

    def _failure(self, session: Session, query: EntityQuery, exc: BaseException) -> AdapterError:
        where, why = f"source {self.config.id}", describe_error(exc)
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
                sql += f" WHERE {column} > {PARAM}"
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
        return (
            isinstance(self._session, (PostgresSession, MariaDbSession))
            and self._session.conn is not None
        )

    async def reusable(self) -> bool:
        """Its server connection still answers (MariaDB's driver sees nothing unless used)."""
        session = self._session
        if isinstance(session, PostgresSession):
            return session.conn is not None and not session.conn.is_closed()
        if not isinstance(session, MariaDbSession) or session.conn is None:
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
        return sqlite_stamp(SqliteSession(self.config, self.config.url or "").path)

    async def look(self, tables: Sequence[str] | None) -> Look | None:
        """SQLite: its files (`adapters/filestamp.py`); a server: its statistics."""
        if self.config.kind == "sqlite":
            return sqlite_look(SqliteSession(self.config, self.config.url or "").path)
        await self.open()  # at once when it is
        session = self._require()
        try:
            if isinstance(session, MariaDbSession):
                return await looks.mariadb(await session._connected(), tables)
            return await looks.postgres(session.conn, tables)
        except session.errors as exc:
            raise AdapterError(
                f"source {self.config.id}: look failed: {describe_error(exc)}"
            ) from exc

    # -- checksums per block of keys (adapters/blocks.py) ----------------------------------

    def _blocks(self, query: EntityQuery) -> tuple[Dialect, Session]:
        """The dialect of checksums per block."""
        session = self._require()
        dialects = {
            PostgresSession: PostgresDialect,
            MariaDbSession: MariaDbDialect,
            SqliteSession: SqliteDialect,
        }
        dialect = dialects.get(type(session))
        if dialect is None or not query.columns:
            raise AdapterError(f"source {self.config.id}: no checksums for this stream")
        return dialect(session.quote), session

    def supports_blocks(self) -> bool:
        return self.config.kind in ("postgresql", "mariadb", "mysql", "sqlite")

    async def block_sums(
        self, query: EntityQuery, key: Sequence[str], digits: int
    ) -> dict[str, str]:
        """Per non-empty block of `key`'s values: its row count and hash sum ("n:sum")
        over `query.columns`, computed by the source."""
        dialect, session = self._blocks(query)
        sql = dialect.sums_sql(self._from(session, query), key, query.columns, digits)
        try:
            if isinstance(session, SqliteSession):  # hashed in Python: in a worker process
                rows: list[Any] = await self._apart(session, sql)
            else:
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

    async def _apart(self, session: SqliteSession, sql: str) -> list[dict[str, Any]]:
        """`_all` for SQLite, in a worker process (`adapters/apart.py`)."""
        try:
            return await sqlite_rows(
                session.path, sql, session.identity, self.config.timeout_seconds
            )
        except session.errors as exc:
            self._offered.forget()
            raise AdapterError(f"source {self.config.id}: {describe_error(exc)}") from exc

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        session = self._require()
        rows: list[Row] = []
        chunks = session.iterate(session.bind(sql, bool(params)), params, 1000)
        try:
            async for chunk in chunks:
                rows += chunk
        except session.errors as exc:
            self._offered.forget()
            raise AdapterError(f"source {self.config.id}: {describe_error(exc)}") from exc
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

"""Write legacy tables into PostgreSQL, MariaDB or SQLite, and Form A workbooks into XLSX
(or CSV exports).

Every database is dropped and created again, so regenerating an estate is idempotent.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import aiomysql
import asyncpg
from openpyxl import Workbook as XlsxWorkbook

from estate.legacy.tables import Table, Workbook

PG_TYPES = {
    "int": "integer",
    "bigint": "bigint",
    "smallint": "smallint",
    "text": "text",
    "money": "numeric(20,2)",
    "decimal": "numeric(12,2)",
    "date": "date",
    "timestamp": "timestamp",
    "bool": "boolean",
}
MYSQL_TYPES = {
    "int": "INT",
    "bigint": "BIGINT",
    "smallint": "SMALLINT",
    "text": "VARCHAR(255)",
    "money": "DECIMAL(20,2)",
    "decimal": "DECIMAL(12,2)",
    "date": "DATE",
    "timestamp": "DATETIME",
    "bool": "TINYINT(1)",
}
SQLITE_TYPES = {
    "int": "INTEGER",
    "bigint": "INTEGER",
    "smallint": "INTEGER",
    "text": "TEXT",
    "money": "NUMERIC",
    "decimal": "NUMERIC",
    "date": "DATE",
    "timestamp": "DATETIME",
    "bool": "INTEGER",
}


# --- URLs -----------------------------------------------------------------------------------


def with_database(url: str, database: str, scheme: str) -> str:
    """`url` pointing at `database`, query (e.g. a socket dir `?host=/…`) kept as it is."""
    parts = urlsplit(url)
    return urlunsplit((scheme, parts.netloc, f"/{database}", parts.query, ""))


def pg_dsn(url: str) -> str:
    """An asyncpg DSN from a postgresql:// or postgresql+asyncpg:// URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return f"postgresql://{rest}"


def mysql_kwargs(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb", "mysql+aiomysql", "mariadb+aiomysql"):
        raise ValueError(f"not a MariaDB/MySQL URL: {url!r}")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    kwargs: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": unquote(parts.username) if parts.username else "root",
        "password": unquote(parts.password) if parts.password else "",
        "charset": "utf8mb4",
        "autocommit": False,
    }
    if "unix_socket" in options:
        kwargs["unix_socket"] = options["unix_socket"]
    return kwargs


# --- PostgreSQL -----------------------------------------------------------------------------


async def recreate_pg_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(pg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def drop_pg_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(pg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


async def write_postgres(admin_url: str, database: str, tables: Sequence[Table]) -> None:
    await recreate_pg_database(admin_url, database)
    conn = await asyncpg.connect(pg_dsn(with_database(admin_url, database, "postgresql")))
    try:
        for table in tables:
            columns = ", ".join(f'"{name}" {PG_TYPES[kind]}' for name, kind in table.columns)
            key = ", ".join(f'"{c}"' for c in table.key)
            primary = f", PRIMARY KEY ({key})" if key else ""
            await conn.execute(f'CREATE TABLE "{table.name}" ({columns}{primary})')
            if table.rows:
                await conn.copy_records_to_table(
                    table.name, records=table.rows, columns=table.column_names
                )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


# --- MariaDB --------------------------------------------------------------------------------


async def write_mariadb(url: str, database: str, tables: Sequence[Table]) -> None:
    conn = await aiomysql.connect(**mysql_kwargs(url))
    try:
        cur = await conn.cursor()
        await _drop_if_exists(cur, database)
        await cur.execute(
            f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        await cur.execute(f"USE `{database}`")
        for table in tables:
            columns = ", ".join(f"`{name}` {MYSQL_TYPES[kind]}" for name, kind in table.columns)
            key = ", ".join(f"`{c}`" for c in table.key)
            primary = f", PRIMARY KEY ({key})" if key else ""
            await cur.execute(f"CREATE TABLE `{table.name}` ({columns}{primary}) ENGINE=InnoDB")
            names = ", ".join(f"`{c}`" for c in table.column_names)
            marks = ", ".join(["%s"] * len(table.columns))
            sql = f"INSERT INTO `{table.name}` ({names}) VALUES ({marks})"
            for start in range(0, len(table.rows), 2000):
                await cur.executemany(sql, table.rows[start : start + 2000])
        await conn.commit()
        await cur.close()
    finally:
        conn.close()


async def _drop_if_exists(cur: Any, database: str) -> None:
    # DROP … IF EXISTS on a missing database raises a driver Warning: look first.
    await cur.execute(
        "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,)
    )
    if await cur.fetchone():
        await cur.execute(f"DROP DATABASE `{database}`")


async def drop_mariadb_database(url: str, database: str) -> None:
    conn = await aiomysql.connect(**mysql_kwargs(url))
    try:
        cur = await conn.cursor()
        await _drop_if_exists(cur, database)
        await cur.close()
    finally:
        conn.close()


# --- SQLite ---------------------------------------------------------------------------------


def sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bool):
        return int(value)
    return value


def write_sqlite(path: Path, tables: Sequence[Table]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        for table in tables:
            columns = ", ".join(f'"{name}" {SQLITE_TYPES[kind]}' for name, kind in table.columns)
            key = ", ".join(f'"{c}"' for c in table.key)
            primary = f", PRIMARY KEY ({key})" if key else ""
            conn.execute(f'CREATE TABLE "{table.name}" ({columns}{primary})')
            names = ", ".join(f'"{c}"' for c in table.column_names)
            marks = ", ".join(["?"] * len(table.columns))
            conn.executemany(
                f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})',
                ([sqlite_value(v) for v in row] for row in table.rows),
            )
        conn.commit()
    finally:
        conn.close()


# --- XLSX -----------------------------------------------------------------------------------


def write_workbooks(folder: Path, workbooks: Sequence[Workbook]) -> None:
    """Form A workbooks as XLSX, or as `;`-separated CSV where their path says `.csv`."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("*.xlsx"), *folder.glob("*.csv")]:
        old.unlink()
    for book in workbooks:
        if book.path.endswith(".csv"):
            write_csv(folder / book.path, book.rows)
            continue
        wb = XlsxWorkbook(write_only=True)
        sheet = wb.create_sheet(book.sheet)
        for row in book.rows:
            sheet.append(row)
        wb.save(folder / book.path)


def write_csv(path: Path, rows: Sequence[Sequence[Any]]) -> None:
    """Rows as an Indonesian spreadsheet exports CSV: `;` between values (the decimal comma
    is taken), UTF-8 with a byte order mark, CRLF line ends."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerows(["" if v is None else v for v in row] for row in rows)

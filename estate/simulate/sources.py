"""The estate as its manifest describes it (regions and their BPKAD, BPBJ and monev sources,
with the watermark columns of their mapping files), and connections to those sources."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tomllib
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiomysql
import aiosqlite
import asyncpg

from estate.simulate.change import SimulatorError, SourceUnavailable
from estate.simulate.formats import as_datetime, known_flavour
from estate.writers import mysql_kwargs, pg_dsn, sqlite_value

MANIFEST = "estate-manifest.json"


@dataclass(frozen=True)
class ManifestSource:
    id: str
    kind: str
    region: str
    flavour: str
    url: str | None
    database: str | None
    path: Path | None  # SQLite file, or the folder of the monev workbooks
    watermarks: dict[str, str | None]  # table → watermark column (from the mapping file)

    def watermark(self, table: str) -> str | None:
        return self.watermarks.get(table)


@dataclass(frozen=True)
class ManifestRegion:
    code: str
    flavour: str
    finance: ManifestSource | None
    procurement: ManifestSource | None
    monev: ManifestSource | None
    esurat: ManifestSource | None = None  # the e-office (SQLite), where the Pemda has one


def _mapping_watermarks(path: Path) -> dict[str, str | None]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SimulatorError(f"cannot read mapping file {path}: {exc}") from exc
    found: dict[str, str | None] = {}
    for entity in data.get("entity", []):
        table = entity.get("table")
        if isinstance(table, str):
            mark = entity.get("watermark")
            found[table] = mark if isinstance(mark, str) else None
    return found


def read_estate(data_dir: Path) -> tuple[int, date, list[ManifestRegion]]:
    manifest_path = data_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SimulatorError(
            f"cannot read {manifest_path} ({exc}); generate an estate first "
            "(rantai estate generate)"
        ) from exc
    try:
        fiscal_year = max(int(y) for y in manifest["fiscal_years"])
        as_of = date.fromisoformat(manifest["as_of"])
        entries: dict[str, dict[str, Any]] = manifest["sources"]
    except (KeyError, TypeError, ValueError) as exc:
        raise SimulatorError(f"{manifest_path} is not an estate manifest ({exc})") from exc
    by_region: dict[str, dict[str, ManifestSource]] = defaultdict(dict)
    flavours: dict[str, str] = {}
    for source_id, entry in sorted(entries.items()):
        family = source_id.split("-", 1)[0]
        if family not in ("bpkad", "bpbj", "monev", "esurat"):
            continue  # e-planning: nothing in it changes during the year
        try:
            kind, region = str(entry["kind"]), str(entry["region"])
            mapping = data_dir / entry["mapping"]
            path: Path | None = None
            if kind == "sqlite":
                relative = str(entry["url"]).removeprefix("sqlite:///").split("?", 1)[0]
                file = Path(relative)
                path = (file if file.is_absolute() else mapping.parent / file).resolve()
            elif kind in ("xlsx", "csv"):
                path = (data_dir / entry["path"]).parent
            flavour = known_flavour(str(entry["flavour"]))
        except (KeyError, TypeError) as exc:
            raise SimulatorError(f"{manifest_path}: source {source_id}: missing {exc}") from exc
        by_region[region][family] = ManifestSource(
            id=source_id,
            kind=kind,
            region=region,
            flavour=flavour,
            url=entry.get("url"),
            database=entry.get("database"),
            path=path,
            watermarks={
                # Tables whose rows a national API serves now (estate/national_api.py).
                **entry.get("national_api", {}).get("watermarks", {}),
                **(_mapping_watermarks(mapping) if kind not in ("xlsx", "csv") else {}),
            },
        )
        flavours[region] = flavour
    order = [str(r) for r in manifest.get("regions", [])]
    order += sorted(r for r in by_region if r not in order)
    regions = [
        ManifestRegion(
            code,
            flavours[code],
            by_region[code].get("bpkad"),
            by_region[code].get("bpbj"),
            by_region[code].get("monev"),
            by_region[code].get("esurat"),
        )
        for code in order
        if code in by_region
    ]
    return fiscal_year, as_of, regions


# --- connections -----------------------------------------------------------------------------


class Postgres:
    """A PostgreSQL source, connected for each transaction: a province's estate has 45 of
    them on the demo's one server, beside the hub's own connections to each, and the
    server's 100 connections would not hold one more kept per source."""

    def __init__(self, source: ManifestSource) -> None:
        if not source.url:
            raise SourceUnavailable(f"source {source.id}: no url in the manifest")
        self.source = source
        self.dsn = pg_dsn(source.url)
        self._conn: Any = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, timeout=10)
        conn = self._conn
        try:
            async with conn.transaction():
                yield conn
        finally:
            await self.close()

    async def max_watermark(self, conn: Any, table: str) -> datetime | None:
        column = self.source.watermark(table)
        if column is None:
            return None
        return as_datetime(await conn.fetchval(f'SELECT max("{column}") FROM "{table}"'))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=5)


class Finance:
    """The BPKAD database: MariaDB (aiomysql) or a SQLite file (aiosqlite). SQL uses `?`."""

    def __init__(self, source: ManifestSource) -> None:
        self.source = source
        self.flavour = source.flavour
        self._maria: Any = None
        self._sqlite: aiosqlite.Connection | None = None

    async def _connect(self) -> None:
        if self.source.kind == "sqlite":
            if self._sqlite is None:
                if self.source.path is None or not self.source.path.is_file():
                    raise SourceUnavailable(
                        f"source {self.source.id}: SQLite file {self.source.path} is missing"
                    )
                self._sqlite = await aiosqlite.connect(
                    self.source.path, isolation_level=None, timeout=10
                )
        elif self._maria is not None:
            await self._maria.ping(reconnect=True)  # MariaDB drops idle connections
        else:
            if not self.source.url:
                raise SourceUnavailable(f"source {self.source.id}: no url in the manifest")
            kwargs = mysql_kwargs(self.source.url)
            self._maria = await aiomysql.connect(
                **kwargs, db=self.source.database, connect_timeout=10
            )

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Finance]:
        await self._connect()
        try:
            if self._sqlite is not None:
                await self._sqlite.execute("BEGIN IMMEDIATE")
            else:
                await self._maria.begin()
            yield self
            if self._sqlite is not None:
                await self._sqlite.execute("COMMIT")
            else:
                await self._maria.commit()
        except BaseException:
            await self.close()  # rolls back what was not committed
            raise

    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self._sqlite is not None:
            values = [sqlite_value(p) for p in params]
            async with self._sqlite.execute(sql, values) as cursor:
                return [tuple(row) for row in await cursor.fetchall()]
        cur = await self._maria.cursor()
        try:
            await cur.execute(sql.replace("?", "%s"), params)
            return [tuple(row) for row in await cur.fetchall()]
        finally:
            await cur.close()

    async def execute(self, sql: str, *params: Any) -> None:
        if self._sqlite is not None:
            await self._sqlite.execute(sql, [sqlite_value(p) for p in params])
            return
        cur = await self._maria.cursor()
        try:
            await cur.execute(sql.replace("?", "%s"), params)
        finally:
            await cur.close()

    async def max_watermark(self, table: str) -> datetime | None:
        column = self.source.watermark(table)
        if column is None:
            return None
        rows = await self.fetch(f"SELECT max({column}) FROM {table}")
        return as_datetime(rows[0][0]) if rows else None

    async def close(self) -> None:
        sqlite, self._sqlite = self._sqlite, None
        maria, self._maria = self._maria, None
        if sqlite is not None:
            with contextlib.suppress(Exception):
                await sqlite.close()
        if maria is not None:
            with contextlib.suppress(Exception):
                maria.close()

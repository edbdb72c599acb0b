"""The simulator: the office clock, which kind of change each step tries where, and the run
loop; the changes themselves are in one module per legacy system."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time as monotonic
import zipfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import aiomysql
import asyncpg

from adapters.codes import CodeError
from adapters.parsing import ParseError
from estate.simulate.change import SimChange, SimulatorError, SourceUnavailable
from estate.simulate.esurat import handovers
from estate.simulate.finance import contract_payment, gu_payment
from estate.simulate.formats import OFFICE_CLOSES, OFFICE_OPENS, SP2D, as_datetime
from estate.simulate.monev import Workbooks, monev
from estate.simulate.sources import Finance, ManifestRegion, ManifestSource, Postgres, read_estate
from estate.simulate.spse import amendment, tender_announced, tender_result

log = logging.getLogger(__name__)

# (kind, weight): what one step does, drawn without replacement until one is possible.
KIND_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("payment", 40),
    ("monev", 30),
    ("tender_announced", 10),
    ("tender_result", 10),
    ("amendment", 10),
)
GU_SHARE = 0.2  # of payment steps: a non-contract GU payment on a DPA line
PROCUREMENT_WATERMARKED = (
    "rup_paket",
    "rup_anggaran",
    "spse_tender",
    "spse_tender_rup",
    "spse_peserta",
    "spse_kontrak",
    "spse_addendum",
)
# A source down or holding what it should not: that change is skipped, another one is made.
SOURCE_ERRORS: tuple[type[BaseException], ...] = (
    SourceUnavailable,
    OSError,
    TimeoutError,
    zipfile.BadZipFile,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    aiomysql.Error,
    sqlite3.Error,
    ParseError,
    CodeError,
)


class Simulator:
    """Keeps changing a demo legacy estate, one committed change per `step()`."""

    def __init__(self, data_dir: Path, *, seed: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.fiscal_year, self.as_of, self.regions = read_estate(self.data_dir)
        self.rng = random.Random(seed)
        self.year_end = date(self.fiscal_year, 12, 31)
        self.now = datetime.combine(self.as_of, OFFICE_CLOSES)  # the simulated office clock
        self._clock_synced = False
        self._pg: dict[str, Postgres] = {}
        self._finance: dict[str, Finance] = {}
        self.workbooks = Workbooks(self.fiscal_year)
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Simulator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- public API ------------------------------------------------------------------------

    async def step(self) -> SimChange:
        """Perform exactly one change and commit it; SimulatorError if none is possible."""
        async with self._lock:
            if not self._clock_synced:
                await self._sync_clock()
                self._clock_synced = True
            moment = self._tick()
            today = min(moment.date(), self.year_end)
            tried: list[str] = []
            failed: list[str] = []
            first_error: BaseException | None = None
            for kind in self._kind_order():
                for region in self.rng.sample(self.regions, len(self.regions)):
                    try:
                        change = await self._attempt(kind, region, today, moment)
                    except SOURCE_ERRORS as exc:  # a source down: change another one
                        log.warning("simulator: %s in %s failed: %s", kind, region.code, exc)
                        failed.append(f"{kind} in {region.code}: {type(exc).__name__}: {exc}")
                        first_error = first_error or exc
                        continue
                    if change is not None:
                        await self._handovers(region, today)
                        return change
                tried.append(kind)
            because = f"; failed: {'; '.join(failed)}" if failed else ""
            raise SimulatorError(
                f"no change possible in the {self.fiscal_year} estate under {self.data_dir} "
                f"(tried {', '.join(tried) or 'nothing: no BPKAD, BPBJ or monev sources'})"
                + because
            ) from first_error

    async def run(
        self,
        *,
        per_minute: float,
        stop: asyncio.Event,
        on_change: Callable[[SimChange], None] | None = None,
    ) -> None:
        """Step about `per_minute` times a minute until `stop` is set. A failing step (a
        source down, nothing left to change) is logged and skipped."""
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        interval = 60.0 / per_minute
        due = monotonic.monotonic()
        while not stop.is_set():
            try:
                change = await self.step()
            except SimulatorError as exc:
                log.info("simulator: %s", exc)
            except Exception as exc:
                log.warning("simulator: step failed, skipped: %s: %s", type(exc).__name__, exc)
            else:
                if on_change is not None:
                    try:
                        on_change(change)
                    except Exception:
                        log.exception("simulator: on_change failed")
            due = max(due + interval, monotonic.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=due - monotonic.monotonic())

    async def close(self) -> None:
        for pg in self._pg.values():
            await pg.close()
        for finance in self._finance.values():
            await finance.close()

    # --- clock and choices -----------------------------------------------------------------

    def _tick(self) -> datetime:
        """Move the office clock on by a few minutes (to the next working day after 17:00)."""
        rng = self.rng
        current = self.now
        moved = current + timedelta(minutes=rng.randint(2, 12), seconds=rng.randint(0, 59))
        if moved.date() <= self.year_end and (
            moved.time() >= OFFICE_CLOSES or moved.date() != current.date()
        ):
            day = current.date() + timedelta(days=1)
            while day.weekday() >= 5:
                day += timedelta(days=1)
            moved = datetime.combine(day, OFFICE_OPENS) + timedelta(minutes=rng.randint(0, 30))
        if moved.date() > self.year_end:  # the books close: business dates stay on 31 Dec
            moved = current + timedelta(seconds=rng.randint(1, 59))
        self.now = moved
        return moved

    def _observe(self, stamp: datetime | None) -> None:
        if stamp is not None and stamp > self.now:
            self.now = stamp

    async def _sync_clock(self) -> None:
        """Start the clock after the newest change already in the sources (after a restart);
        a source that does not answer is left out."""
        for region in self.regions:
            for source in (region.procurement, region.finance):
                if source is None:
                    continue
                try:
                    if source is region.procurement:
                        pg = self.postgres(source)
                        async with pg.transaction() as conn:
                            for table in PROCUREMENT_WATERMARKED:
                                self._observe(await pg.max_watermark(conn, table))
                        continue
                    finance = self.finance_db(source)
                    async with finance.transaction():
                        if source.watermark("sp2d"):
                            self._observe(await finance.max_watermark("sp2d"))
                        elif finance.flavour == "D":  # its update column, where it is set
                            rows = await finance.fetch("SELECT max(tgl_update) FROM sp2d")
                            self._observe(as_datetime(rows[0][0]) if rows else None)
                        elif finance.flavour != "B":  # no watermark (C): the latest SP2D date
                            day = SP2D[finance.flavour].day
                            rows = await finance.fetch(f"SELECT max({day}) FROM sp2d")
                            self._observe(as_datetime(rows[0][0]) if rows else None)
                except SOURCE_ERRORS as exc:
                    log.warning("simulator: cannot read the clock of %s: %s", source.id, exc)

    def _kind_order(self) -> list[str]:
        pool = list(KIND_WEIGHTS)
        order: list[str] = []
        while pool:
            total = sum(w for _, w in pool)
            pick = self.rng.uniform(0, total)
            for i, (kind, weight) in enumerate(pool):
                pick -= weight
                if pick <= 0 or i == len(pool) - 1:
                    order.append(kind)
                    del pool[i]
                    break
        return order

    async def _handovers(self, region: ManifestRegion, today: date) -> None:
        """The BAST letters of contracts whose end day has come (the change is committed: a
        source down only delays them to a later step)."""
        try:
            await handovers(self, region, today)
        except SOURCE_ERRORS as exc:
            log.warning("simulator: BAST letters in %s failed: %s", region.code, exc)

    async def _attempt(
        self, kind: str, region: ManifestRegion, today: date, moment: datetime
    ) -> SimChange | None:
        if kind == "payment":
            if region.finance is None:
                return None
            if self.rng.random() < GU_SHARE:
                return await gu_payment(self, region, today, moment) or (
                    await contract_payment(self, region, today, moment)
                )
            return await contract_payment(self, region, today, moment) or (
                await gu_payment(self, region, today, moment)
            )
        if kind == "monev":
            return await monev(self, region, today)
        if kind == "tender_announced":
            return await tender_announced(self, region, today, moment)
        if kind == "tender_result":
            return await tender_result(self, region, today, moment)
        if kind == "amendment":
            return await amendment(self, region, today, moment)
        raise SimulatorError(f"unknown kind of change {kind!r}")

    # --- what the changes share: connections and watermarks --------------------------------

    def postgres(self, source: ManifestSource) -> Postgres:
        if source.id not in self._pg:
            self._pg[source.id] = Postgres(source)
        return self._pg[source.id]

    def finance_db(self, source: ManifestSource) -> Finance:
        if source.id not in self._finance:
            self._finance[source.id] = Finance(source)
        return self._finance[source.id]

    @staticmethod
    def next_stamp(moment: datetime, table_max: datetime | None) -> datetime:
        """A table's next watermark: the clock, or one second past the table's largest value
        (whole seconds: MariaDB DATETIME and the SQLite text keep no fractions)."""
        if table_max is None:
            return moment
        return max(moment, table_max + timedelta(seconds=1))

    async def pg_insert(
        self, conn: Any, region: ManifestRegion, moment: datetime, table: str, *rows: dict[str, Any]
    ) -> None:
        """Insert rows in a procurement table, each with its own next watermark (the clock,
        or one second past the table's largest value) where the mapping names one."""
        column = _procurement(region).watermark(table)
        if column is not None:
            stamp = self.next_stamp(moment, await self.pg_max(conn, region, table))
            for n, row in enumerate(rows):
                row[column] = stamp + timedelta(seconds=n)
        for row in rows:
            columns = ", ".join(f'"{c}"' for c in row)
            marks = ", ".join(f"${n}" for n in range(1, len(row) + 1))
            await conn.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', *row.values())

    async def pg_max(self, conn: Any, region: ManifestRegion, table: str) -> datetime | None:
        return await self.postgres(_procurement(region)).max_watermark(conn, table)


def _procurement(region: ManifestRegion) -> ManifestSource:
    """The Pemda's SPSE and SiRUP database: the changes that write there check it exists."""
    if region.procurement is None:
        raise SimulatorError(f"{region.code} has no procurement database in the manifest")
    return region.procurement

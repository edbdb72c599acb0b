"""Faults, each on real servers (no mocks):

* the hub's own PostgreSQL drops every connection under load: clients get clear errors while
  it happens, the hub recovers without a restart, and no change event is lost or sent twice
  (a full restart of the store's server is `bench/faults.py`: this machine's PostgreSQL is
  shared, so only an embedded one may be stopped); with no server at all, every client,
  with or without an API key, over HTTP or WebSocket, is told STORE_UNAVAILABLE;
* a legacy PostgreSQL or MariaDB server kills the sync's connection mid-sync: that source is
  DOWN with a clear lastError, its last-synced rows stay served with `provenance.stale`, the
  others sync, and the next sync completes it, equal to the source, nothing doubled;
* a legacy source hangs (a table locked forever, or a server that accepts and never
  answers): it times out after its own `timeout_seconds` with a lastError naming the
  timeout, while the other sources sync and queries are answered as before;
* a hub process is SIGKILLed while it holds a source's sync lock: the server ends its
  session, the lock goes with it, and another engine takes the source over and completes
  it, nothing doubled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiomysql
import asyncpg
import httpx
import pytest
import websockets

from adapters.mapping import Config, load_config
from estate.generate import EstateResult, generate_estate
from estate.synthetic import seed_canonical
from estate.writers import drop_mariadb_database, mysql_kwargs
from hub.db import asyncpg_dsn
from hub.events.changelog import Change
from hub.events.outbox import parse_cursor
from hub.jobs import SyncJob
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from hub.sync.bindings import BY_ENTITY
from hub.sync.engine import source_lock_key
from hub.sync.reports import SourceReport
from hub.sync.writer import Writer
from tests.conftest import MARIADB_URL, Server, free_port, mariadb_reachable, running
from tests.test_subscriptions import next_message

QUERY = "{ regions { code summary(fiscalYear: 2025) { paid } } }"


@pytest.fixture
async def hub(server: Server) -> AsyncIterator[tuple[str, str, str]]:
    url = await server.create_database("rantai_faults")
    await run_async(url, "upgrade", "head")
    dsn = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        await seed_canonical(conn, sub_activities=200, seed=5)
    finally:
        await conn.close()
    app = create_app(url, Settings(database_url=url))
    async with running(app, log_level="critical") as port:
        yield dsn, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql"


async def _write(dsn: str, ids: list[int], bump: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            changes = [
                Change(i, f"k{i}", "UPDATED", {"amount": "0"}, {"amount": str(bump)}) for i in ids
            ]
            await Writer(conn, "bpkad-sipd").record(BY_ENTITY["payment"], changes)
    finally:
        await conn.close()


async def _kill_connections(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        killed = await conn.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()"""
        )
    finally:
        await conn.close()
    return int(killed)


async def test_the_store_dropping_every_connection_loses_no_event(
    hub: tuple[str, str, str],
) -> None:
    dsn, base, ws_url = hub
    conn = await asyncpg.connect(dsn)
    try:
        ids = [r[0] for r in await conn.fetch("SELECT id FROM payment ORDER BY id LIMIT 60")]
    finally:
        await conn.close()
    async with websockets.connect(
        ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        document = "subscription { changes { cursor entityId } }"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document}}))
        await asyncio.sleep(0.5)
        await _write(dsn, ids[:30], 1)

        answers: list[Any] = []
        stop = asyncio.Event()

        async def load() -> None:  # queries all along, before, during and after the fault
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                while not stop.is_set():
                    response = await client.post("/graphql", json={"query": QUERY})
                    answers.append((response.status_code, response.json()))
                    await asyncio.sleep(0.02)

        loader = asyncio.create_task(load())
        await asyncio.sleep(0.5)
        assert await _kill_connections(dsn) >= 2  # the pool's, the feed's, its LISTEN
        await asyncio.sleep(0.3)
        await _write(dsn, ids[30:], 2)  # while the hub is reconnecting
        received: list[dict[str, Any]] = []
        while len(received) < 60:
            message = await next_message(ws, wait=30)
            assert message["type"] == "next", message
            received.append(message["payload"]["data"]["changes"])
        with pytest.raises(TimeoutError):
            await next_message(ws, wait=2)  # nothing twice
        stop.set()
        await loader

    positions = [parse_cursor(c["cursor"]) for c in received]
    assert positions == sorted(set(positions))  # every event once, in commit order
    assert len(positions) == 60
    failed = [a for a in answers if a[0] != 200 or "errors" in a[1]]
    for _, body in failed:  # clear errors while it happened, never an unexplained one
        assert body["errors"][0]["extensions"]["code"] == "STORE_UNAVAILABLE", body
    assert answers[-1][0] == 200
    assert "errors" not in answers[-1][1]  # recovered without a restart
    assert len(answers) > len(failed)


async def test_a_store_that_refuses_connections_is_store_unavailable_to_every_client() -> None:
    """Nothing listens where the store should be (its server is down). Every client is told
    so with a stable code: a query STORE_UNAVAILABLE; a request with an API key, which must
    be looked up in the store, 503 STORE_UNAVAILABLE (it was Starlette's bare-text 500); a
    socket whose connection_init carries a key, closed with 1013 "try again later" (it was
    dropped without a close frame). bench/faults.py restarts a real server under load."""
    url = f"postgresql+asyncpg://rantai@127.0.0.1:{free_port()}/rantai"
    key = "rk_0123abcd_" + "s" * 40
    app = create_app(url, Settings(database_url=url))
    async with running(app, log_level="critical") as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            anonymous = await client.post("/graphql", json={"query": QUERY})
            keyed = await client.post(
                "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {key}"}
            )
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        ) as ws:
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
            await ws.send(json.dumps(init))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await next_message(ws)
    assert anonymous.status_code == 200
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "STORE_UNAVAILABLE"
    assert keyed.status_code == 503
    assert keyed.json()["errors"][0]["extensions"]["code"] == "STORE_UNAVAILABLE"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013


def test_what_counts_as_an_unreachable_store() -> None:
    """What a server that is stopping, crashed or starting raises, or its absence, is the
    store being unreachable (STORE_UNAVAILABLE); errors of a statement are not."""
    from asyncpg import exceptions as pg
    from sqlalchemy.exc import DBAPIError

    from hub.errors import store_unreachable

    down = [
        ConnectionRefusedError(),
        FileNotFoundError(),  # the Unix socket of a stopped server
        pg.CannotConnectNowError("the database system is starting up"),
        pg.CannotConnectNowError("the database system is shutting down"),
        pg.AdminShutdownError("terminating connection due to administrator command"),
        pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        pg.InterfaceError("connection is closed"),  # a pooled raw connection, since closed
    ]
    for error in down:
        assert store_unreachable(error), error
        assert store_unreachable(DBAPIError("SELECT 1", None, error)), error
    bugs = [
        pg.UndefinedTableError("relation does not exist"),
        pg.InterfaceError("cannot perform operation: another operation is in progress"),
        ValueError("bad"),
        KeyError("x"),
    ]
    for error in bugs:
        assert not store_unreachable(error), error
        assert not store_unreachable(DBAPIError("SELECT 1", None, error)), error


# -- a legacy estate shared by the source faults ------------------------------------------

T = TypeVar("T")
YEAR = 2025
TIMEOUT = 2  # seconds: a hung source's `timeout_seconds` in these tests
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FaultEstate:
    result: EstateResult
    manifest: dict[str, Any]
    maria: str | None  # the MariaDB server of the finance databases; None: SQLite files

    def source(self, source_id: str) -> dict[str, Any]:
        entry: dict[str, Any] = self.manifest["sources"][source_id]
        return entry

    def config(self, changes: dict[str, dict[str, Any]] | None = None) -> Config:
        """The estate's sources; `changes` replaces fields of a source's `[source]` table
        (its url, its timeout) in memory, leaving the mapping files as they are."""
        config = load_config(self.result.config)
        changes = changes or {}
        sources = tuple(
            dataclasses.replace(s, config=dataclasses.replace(s.config, **changes[s.id]))
            if s.id in changes
            else s
            for s in config.sources
        )
        return dataclasses.replace(config, sources=sources)


@pytest.fixture(scope="module")
async def estate(
    server: Server, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FaultEstate]:
    """The small estate: e-planning and procurement on PostgreSQL, finance on MariaDB when a
    server answers (else SQLite files, and the MariaDB faults skip, saying so)."""
    maria = MARIADB_URL if await mariadb_reachable() else None
    result = await generate_estate(
        tmp_path_factory.mktemp("fault_estate"), scale="small", seed=2, pg_url=server.admin_url,
        mariadb_url=maria, fiscal_years=(YEAR,), db_prefix=f"legacy_f{uuid.uuid4().hex[:6]}",
    )  # fmt: skip
    server.created.extend(result.postgres_databases)  # dropped with the session's server
    try:
        yield FaultEstate(result, json.loads(result.manifest.read_text()), maria)
    finally:
        if maria is not None:
            for name in result.mariadb_databases:
                await drop_mariadb_database(maria, name)


def skip_without_mariadb(estate: FaultEstate) -> None:
    if estate.maria is None:
        pytest.skip(
            f"MariaDB not reachable at {MARIADB_URL} (RANTAI_MARIADB_URL): start it to run "
            "the MariaDB faults; the estate's finance databases are SQLite files without it"
        )


async def until(
    probe: Callable[[], Awaitable[T | None]],
    what: str | Callable[[], str],
    attempts: int = 400,
) -> T:
    """Poll `probe` until it gives a true value. The bound (20 s by default) only keeps a
    broken run from hanging; nothing here measures time."""
    for _ in range(attempts):
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    pytest.fail(what if isinstance(what, str) else what())


async def maria(estate: FaultEstate, database: str) -> Any:
    assert estate.maria is not None
    kwargs = {**mysql_kwargs(estate.maria), "db": database, "autocommit": True}
    return await aiomysql.connect(**kwargs)


async def m_exec(conn: Any, sql: str, *args: Any) -> int:
    async with conn.cursor() as cursor:
        return int(await cursor.execute(sql, args or None))


async def m_fetch(conn: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cursor:
        await cursor.execute(sql, args or None)
        rows: list[tuple[Any, ...]] = list(await cursor.fetchall())
        return rows


# The id of a MariaDB session waiting for a table another session locked.
MARIA_WAITING = """SELECT ID FROM information_schema.PROCESSLIST
WHERE DB = %s AND STATE = 'Waiting for table metadata lock' AND INFO LIKE %s"""


async def maria_waiting(conn: Any, database: str, table: str) -> int | None:
    rows = await m_fetch(conn, MARIA_WAITING, database, f"%{table}%")
    return int(rows[0][0]) if rows else None


async def store_fetch(store: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(store))
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    finally:
        await conn.close()
    return rows


async def synced_store(server: Server, estate: FaultEstate, prefix: str) -> str:
    """A new store with the whole estate synced into it, every source OK."""
    store = await server.create_database(prefix)
    await run_async(store, "upgrade", "head")
    async with SyncJob(store, estate.config(), history_on_load=True) as engine:
        reports = await engine.sync()
    assert not [(r.source, r.status, r.error) for r in reports if r.status != "OK"]
    return store


def by_source(reports: list[SourceReport]) -> dict[str, SourceReport]:
    return {r.source: r for r in reports}


def not_ok(reports: dict[str, SourceReport], but: str) -> list[tuple[str, str, str | None]]:
    return [(s, r.status, r.error) for s, r in reports.items() if s != but and r.status != "OK"]


@asynccontextmanager
async def serving(store: str) -> AsyncIterator[httpx.AsyncClient]:
    """The hub's app on `store`, in this event loop, with a client for /graphql."""
    app = create_app(store, Settings(database_url=store))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client


async def answer(
    client: httpx.AsyncClient, document: str, variables: dict[str, Any] | None = None
) -> Any:
    response = await client.post("/graphql", json={"query": document, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


CREATED_ONCE = """
SELECT (SELECT count(*) FROM change_history
        WHERE source_id = $1 AND entity = $2 AND op = 'CREATED') AS history,
       (SELECT count(DISTINCT natural_key) FROM change_history
        WHERE source_id = $1 AND entity = $2 AND op = 'CREATED') AS keys,
       (SELECT count(*) FROM outbox o JOIN change_history h ON h.id = o.history_id
        WHERE h.source_id = $1 AND h.entity = $2 AND o.op = 'CREATED') AS events,
       (SELECT count(DISTINCT o.entity_id) FROM outbox o JOIN change_history h
        ON h.id = o.history_id
        WHERE h.source_id = $1 AND h.entity = $2 AND o.op = 'CREATED') AS rows
"""


async def created(store: str, source: str, entity: str) -> tuple[int, int, int, int]:
    """CREATED history rows of `entity` from `source`, their distinct natural keys, their
    outbox events and the distinct rows those name: all equal when nothing was doubled.
    (The syncs here keep one CREATED change per row, `history_on_load`: the baseline load's
    own kill and resume are tests/test_baseline.py's.)"""
    row = (await store_fetch(store, CREATED_ONCE, source, entity))[0]
    return (row["history"], row["keys"], row["events"], row["rows"])


# -- a legacy server kills the sync's connection mid-sync ----------------------------------


async def test_a_legacy_server_dropping_the_sync_mid_read(
    server: Server, estate: FaultEstate
) -> None:
    """bpbj-53's PostgreSQL kills the sync's connection while it reads: that source is DOWN
    with a clear lastError, the others sync; the next sync completes it, equal to the
    source, nothing doubled."""
    legacy_url = estate.source("bpbj-53")["url"]
    store = await server.create_database("rantai_fault_sync")
    await run_async(store, "upgrade", "head")
    legacy = await asyncpg.connect(legacy_url)
    try:
        # More RUP packages appear in SiRUP, enough for a stream of several batches.
        await legacy.execute(
            """INSERT INTO rup_paket
            SELECT kd_rup + 900000000 + n * 1000000, tahun, kd_satker, kd_satker_str,
                   nama_satker, nama_paket || ' #' || n, pagu, metode_pengadaan,
                   jenis_pengadaan, sumber_dana, tgl_umumkan, status_umumkan,
                   updated_at + make_interval(days => 1, secs => n)
            FROM rup_paket, generate_series(1, 6) AS n"""
        )
        async with SyncJob(store, estate.config(), history_on_load=True) as engine:
            blocker = await asyncpg.connect(legacy_url)
            lock = blocker.transaction()
            await lock.start()
            await blocker.execute("LOCK TABLE rup_paket IN ACCESS EXCLUSIVE MODE")
            syncing = asyncio.create_task(engine.sync())
            victim = await until(  # the sync now waits on the lock, mid-read
                lambda: legacy.fetchval(
                    """SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                    AND wait_event_type = 'Lock' AND query ILIKE '%rup_paket%'"""
                ),
                "the sync did not reach the locked table",
            )
            await legacy.execute("SELECT pg_terminate_backend($1)", victim)
            await lock.rollback()
            await blocker.close()
            reports = by_source(await syncing)
            assert reports["bpbj-53"].status == "DOWN"
            assert "bpbj-53" in (reports["bpbj-53"].error or "")
            assert not not_ok(reports, but="bpbj-53")

            async with serving(store) as client:
                body = await answer(client, "{ sources { id status lastError } }")
            sources = {s["id"]: s for s in body["sources"]}
            assert sources["bpbj-53"]["status"] == "DOWN"
            assert sources["bpbj-53"]["lastError"]

            again = by_source(await engine.sync())
            assert again["bpbj-53"].status == "OK"
        stored = (
            await store_fetch(
                store,
                "SELECT count(*) AS n, sum(ceiling) AS total FROM procurement_package "
                "WHERE source_id = 'bpbj-53'",
            )
        )[0]
        source = await legacy.fetchrow("SELECT count(*) AS n, sum(pagu) AS total FROM rup_paket")
    finally:
        await legacy.close()
    assert (stored["n"], stored["total"]) == (source["n"], source["total"])
    n = source["n"]
    # every package created once, none twice
    assert await created(store, "bpbj-53", "procurement_package") == (n, n, n, n)


STALE = """
query ($region: String!, $code: String!) {
  sources { id status lastError }
  subActivity(regionCode: $region, fiscalYear: 2025, code: $code) {
    provenance { stale source { id } }
    budget {
      lines { accountCode amount provenance { stale source { id status } } }
      payments { sp2dNumber amount provenance { stale source { id status } } }
    }
  }
}
"""


async def test_a_legacy_mariadb_killed_mid_sync(server: Server, estate: FaultEstate) -> None:
    """BPKAD's MariaDB kills the sync's connection (`KILL <id>` from another session) while
    it waits to read sp2d, after the DPA lines of the same run were written. bpkad-53 is
    DOWN with a lastError naming the table; the hub goes on serving its last-synced rows,
    marked stale; the others sync; the next sync completes it: counts and sums equal the
    source's, each new payment CREATED once and each revised line UPDATED once, in the
    history and in the outbox."""
    skip_without_mariadb(estate)
    source = "bpkad-53"
    database = estate.source(source)["database"]
    store = await synced_store(server, estate, "rantai_fault_maria")
    payments_before = await store_fetch(
        store,
        "SELECT sp2d_number, amount FROM payment WHERE source_id = $1 ORDER BY sp2d_number",
        source,
    )
    conn = await maria(estate, database)
    blocker = await maria(estate, database)
    try:
        # The finance office revises a third of its DPA lines and issues new SP2D, all
        # after the stored watermarks.
        await m_exec(
            conn,
            "SET @top = GREATEST((SELECT MAX(updated_at) FROM dpa_rinci), "
            "(SELECT MAX(updated_at) FROM sp2d))",
        )
        revised = await m_exec(
            conn,
            "UPDATE dpa_rinci SET nilai = nilai + 1000, "
            "updated_at = @top + INTERVAL id SECOND WHERE id % 3 = 0",
        )
        added = await m_exec(
            conn,
            """INSERT INTO sp2d (id, tahun, nomor_sp2d, tanggal_sp2d, nilai_sp2d, jenis,
                kode_akun, kd_sub_keg, nama_penerima, npwp_penerima, no_kontrak, updated_at)
            SELECT id + 1000000, tahun, CONCAT(nomor_sp2d, '-F'), tanggal_sp2d,
                nilai_sp2d + 7, jenis, kode_akun, kd_sub_keg, nama_penerima, npwp_penerima,
                no_kontrak, @top + INTERVAL 1 DAY + INTERVAL id SECOND
            FROM sp2d WHERE id % 2 = 0""",
        )
        assert revised > 0
        assert added > 0
        # Another session holds sp2d: the sync's read of it waits, on its own connection.
        await m_exec(blocker, "LOCK TABLES sp2d WRITE")
        async with SyncJob(store, estate.config(), history_on_load=True) as engine:
            syncing = asyncio.create_task(engine.sync())
            victim = await until(
                lambda: maria_waiting(conn, database, "sp2d"),
                "the sync did not reach the locked sp2d table",
            )
            await m_exec(conn, f"KILL {victim}")
            await m_exec(blocker, "UNLOCK TABLES")
            reports = by_source(await syncing)
            down = reports[source]
            assert down.status == "DOWN"
            assert down.error is not None
            assert source in down.error
            assert "sp2d" in down.error  # which table, and what the server did
            assert not not_ok(reports, but=source)

            # Served while it is DOWN: the last-synced payments (none of the new ones),
            # each marked stale; the DPA lines revised before the kill, stale too; the
            # sub kegiatan of e-planning (bappeda-53, OK) fresh.
            assert payments_before == await store_fetch(
                store,
                "SELECT sp2d_number, amount FROM payment WHERE source_id = $1 ORDER BY sp2d_number",
                source,
            )
            code = (
                await store_fetch(
                    store,
                    "SELECT s.code FROM payment p JOIN sub_activity s ON s.id = p.sub_activity_id"
                    " WHERE p.source_id = $1 ORDER BY s.code LIMIT 1",
                    source,
                )
            )[0]["code"]
            async with serving(store) as client:
                data = await answer(client, STALE, {"region": "53", "code": code})
            health = {s["id"]: s for s in data["sources"]}[source]
            assert (health["status"], health["lastError"]) == ("DOWN", down.error)
            sub = data["subActivity"]
            assert sub["provenance"] == {"stale": False, "source": {"id": "bappeda-53"}}
            served = sub["budget"]["payments"]
            assert served
            assert not [p for p in served if p["sp2dNumber"].endswith("-F")]
            for row in served + sub["budget"]["lines"]:
                assert row["provenance"]["stale"] is True
                assert row["provenance"]["source"] == {"id": source, "status": "DOWN"}

            again = by_source(await engine.sync())
            assert again[source].status == "OK", again[source].error
        legacy_payments = (await m_fetch(conn, "SELECT count(*), SUM(nilai_sp2d) FROM sp2d"))[0]
        legacy_lines = (await m_fetch(conn, "SELECT count(*), SUM(nilai) FROM dpa_rinci"))[0]
    finally:
        conn.close()
        blocker.close()
    totals = "SELECT count(*), sum(amount) FROM {} WHERE source_id = $1"
    payments = (await store_fetch(store, totals.format("payment"), source))[0]
    lines = (await store_fetch(store, totals.format("budget_line"), source))[0]
    assert tuple(payments) == legacy_payments
    assert tuple(lines) == legacy_lines
    n = legacy_payments[0]
    assert await created(store, source, "payment") == (n, n, n, n)
    updated = (
        await store_fetch(
            store,
            """SELECT count(*) AS history, count(DISTINCT natural_key) AS keys,
                (SELECT count(*) FROM outbox WHERE source_id = $1 AND entity = 'BudgetLine'
                 AND op = 'UPDATED') AS events
            FROM change_history WHERE source_id = $1 AND entity = 'budget_line'
            AND op = 'UPDATED'""",
            source,
        )
    )[0]
    assert tuple(updated) == (revised, revised, revised)  # each revision once


# -- a legacy source that hangs ------------------------------------------------------------

SERVED = """
{ regions { code summary(fiscalYear: 2025) {
    subActivities plannedAmount allocated procurementCeiling contracted paid openDiscrepancies
} } }
"""

REGION_ROWS = """
query ($region: String!) {
  subActivities(filter: {fiscalYear: 2025, regionCode: $region}, first: 500) {
    edges { node {
      budget { lines { provenance { stale source { id } } }
               payments { provenance { stale source { id } } } }
      procurementPackages { provenance { stale source { id } } }
    } }
  }
}
"""


@dataclass
class Silent:
    """A TCP listener that accepts connections and never answers."""

    port: int = 0
    accepted: int = 0


@pytest.fixture
async def silent() -> AsyncIterator[Silent]:
    listener = Silent()
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listener.accepted += 1
        writers.append(writer)

    srv = await asyncio.start_server(hold, "127.0.0.1", 0)
    listener.port = srv.sockets[0].getsockname()[1]
    yield listener
    for writer in writers:
        writer.close()
    srv.close()
    await srv.wait_closed()


# Which source hangs, and how: one table locked forever on its PostgreSQL (SiRUP/SPSE of
# Kabupaten Kupang) or its MariaDB (BPKAD Kota Kupang), or a server that accepts and never
# answers (SiRUP/SPSE of Kota Kupang moved to a dead host).
HANGS = {
    "postgresql-table-locked": ("bpbj-5301", "53.01"),
    "mariadb-table-locked": ("bpkad-5371", "53.71"),
    "silent-server": ("bpbj-5371", "53.71"),
}


@asynccontextmanager
async def hanging(
    kind: str, estate: FaultEstate, source: str, listener: Silent
) -> AsyncIterator[Callable[[], Awaitable[bool]]]:
    """Make `source` hang; yields a probe that is true once the sync is stuck on it."""
    if kind == "silent-server":

        async def accepted() -> bool:
            return listener.accepted > 0

        yield accepted
    elif kind == "postgresql-table-locked":
        url = estate.source(source)["url"]
        blocker = await asyncpg.connect(url)
        watcher = await asyncpg.connect(url)
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("LOCK TABLE spse_tender IN ACCESS EXCLUSIVE MODE")

        async def waiting() -> bool:
            return bool(
                await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = $1 AND wait_event_type = 'Lock'",
                    f"rantai:{source}",
                )
            )

        try:
            yield waiting
        finally:
            await lock.rollback()
            await blocker.close()
            await watcher.close()
    else:
        database = estate.source(source)["database"]
        blocker = await maria(estate, database)
        observer = await maria(estate, database)
        await m_exec(blocker, "LOCK TABLES dpa_rinci WRITE")

        async def maria_stuck() -> bool:
            return await maria_waiting(observer, database, "dpa_rinci") is not None

        try:
            yield maria_stuck
        finally:
            await m_exec(blocker, "UNLOCK TABLES")
            blocker.close()
            observer.close()


@pytest.mark.parametrize("kind", list(HANGS))
async def test_a_hung_source_times_out_while_the_rest_syncs_and_serves(
    server: Server, estate: FaultEstate, silent: Silent, kind: str
) -> None:
    """One source hangs for as long as the sync lasts. The hub answers queries all along,
    unchanged; every other source syncs OK meanwhile; the hung one gives up after its own
    `timeout_seconds` (2 s here) and is DOWN with a lastError naming the timeout, its rows
    served stale; once the hang ends, the next sync brings it back.

    tests/test_sync.py has a query that sleeps past its timeout; these hang on a lock the
    server never grants (PostgreSQL, MariaDB) or on a peer that never speaks."""
    if kind.startswith("mariadb"):
        skip_without_mariadb(estate)
    source, region = HANGS[kind]
    store = await synced_store(server, estate, "rantai_fault_hang")
    changes: dict[str, Any] = {"timeout_seconds": TIMEOUT}
    if kind == "silent-server":
        changes["url"] = f"postgresql://rantai@127.0.0.1:{silent.port}/sirup"
    answers: list[Any] = []
    async with serving(store) as client:
        before = await answer(client, SERVED)
        async with (
            hanging(kind, estate, source, silent) as stuck,
            SyncJob(store, estate.config({source: changes}), history_on_load=True) as engine,
        ):
            syncing = asyncio.create_task(engine.sync())
            await until(stuck, f"the sync never reached the hung {source}")
            while not syncing.done():  # queries while it hangs
                answers.append(await answer(client, SERVED))
                await asyncio.sleep(0.05)
            reports = by_source(await syncing)
        hung = reports[source]
        assert hung.status == "DOWN"
        assert hung.error is not None
        assert source in hung.error
        assert f"no answer within {TIMEOUT} s" in hung.error or (
            f"timed out after {TIMEOUT}s" in hung.error
        ), hung.error
        assert not not_ok(reports, but=source)  # synced meanwhile
        assert answers, "no query ran while the source hung"
        assert all(a == before for a in answers)  # unaffected

        data = await answer(client, "{ sources { id status lastError } }")
        health = {s["id"]: s for s in data["sources"]}[source]
        assert (health["status"], health["lastError"]) == ("DOWN", hung.error)
        rows = await answer(client, REGION_ROWS, {"region": region})
        stale = [
            (row["provenance"]["source"]["id"], row["provenance"]["stale"])
            for edge in rows["subActivities"]["edges"]
            for row in (
                edge["node"]["budget"]["lines"]
                + edge["node"]["budget"]["payments"]
                + edge["node"]["procurementPackages"]
            )
        ]
        assert any(s == source for s, _ in stale)
        assert all(flag == (s == source) for s, flag in stale)  # its rows, and only its

    async with SyncJob(store, estate.config(), history_on_load=True) as engine:  # the hang is over
        after = by_source(await engine.sync([source]))
    assert after[source].status == "OK", after[source].error


# -- a hub process killed while it holds a source's lock -----------------------------------

LOCK_HOLDER = """SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1"""


async def test_a_hub_process_killed_holding_a_source_lock(
    server: Server, estate: FaultEstate, tmp_path: Path
) -> None:
    """`rantai sync` runs in its own process, takes bpbj-5371's advisory lock, commits the
    new RUP packages and blocks reading SPSE tenders. Meanwhile another engine finds the
    source BUSY. The process is SIGKILLed: the server ends its session and the lock goes
    with it (checked in pg_locks, not assumed); another engine then takes the source over
    and completes it: equal to the source, every row CREATED once."""
    source = "bpbj-5371"
    store = await synced_store(server, estate, "rantai_fault_kill")
    packages_before = (await created(store, source, "procurement_package"))[0]
    key = source_lock_key(source)
    lock_id = (key >> 32, key & 0xFFFFFFFF)  # how pg_locks shows a bigint key
    url = estate.source(source)["url"]
    legacy = await asyncpg.connect(url)
    blocker = await asyncpg.connect(url)
    db = await asyncpg.connect(asyncpg_dsn(store))
    log = tmp_path / "sync.log"
    try:
        # New RUP packages, after the stored watermark (an incremental sync reads them).
        status = await legacy.execute(
            """INSERT INTO rup_paket
            SELECT kd_rup + 7000000000 + n * 100000000, tahun, kd_satker, kd_satker_str,
                   nama_satker, nama_paket || ' #' || n, pagu, metode_pengadaan,
                   jenis_pengadaan, sumber_dana, tgl_umumkan, status_umumkan,
                   top.at + make_interval(days => n, secs => (kd_rup % 100000)::int)
            FROM rup_paket, generate_series(1, 3) AS n,
                 (SELECT max(updated_at) AS at FROM rup_paket) AS top"""
        )
        added = int(status.split()[-1])
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("LOCK TABLE spse_tender IN ACCESS EXCLUSIVE MODE")
        env = {
            **os.environ,
            "RANTAI_DATABASE_URL": store,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
            ),
        }
        command = [sys.executable, "-m", "hub.cli", "sync", "--history-on-load",
                   "--config", str(estate.result.config), "--source", source,
                   "--no-progress"]  # fmt: skip
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            holder = await until(
                lambda: db.fetchval(LOCK_HOLDER, *lock_id),
                lambda: f"the sync process never took the lock:\n{log.read_text()}",
                attempts=1200,
            )
            await until(
                lambda: legacy.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = $1 AND wait_event_type = 'Lock'",
                    f"rantai:{source}",
                ),
                lambda: f"the sync process never reached spse_tender:\n{log.read_text()}",
                attempts=1200,
            )
            assert process.returncode is None  # still running, blocked mid-sync
            # Mid-sync: the packages it read before it blocked are committed.
            assert (await created(store, source, "procurement_package"))[0] == (
                packages_before + added
            )
            async with SyncJob(store, estate.config(), history_on_load=True) as other:
                busy = by_source(await other.sync([source]))
            assert busy[source].status == "BUSY"
            process.send_signal(signal.SIGKILL)
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
        assert process.returncode == -signal.SIGKILL

        # The server notices the closed socket, ends that session, and with it its lock.
        async def released() -> bool:
            return bool(
                await db.fetchval(
                    f"SELECT NOT EXISTS ({LOCK_HOLDER}) "
                    "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $3)",
                    *lock_id,
                    holder,
                )
            )

        await until(released, f"the killed process's session (pid {holder}) kept the lock")
        await lock.rollback()  # SPSE answers again

        async with SyncJob(store, estate.config(), history_on_load=True) as successor:
            reports = by_source(await successor.sync([source]))
        assert reports[source].status == "OK", reports[source].error
        source_totals = await legacy.fetchrow(
            "SELECT count(*) AS n, sum(pagu) AS total FROM rup_paket"
        )
        stored = await db.fetchrow(
            "SELECT count(*) AS n, sum(ceiling) AS total FROM procurement_package "
            "WHERE source_id = $1",
            source,
        )
        doubled = await db.fetch(
            "SELECT entity, natural_key FROM change_history WHERE source_id = $1 "
            "AND op = 'CREATED' GROUP BY entity, natural_key HAVING count(*) > 1",
            source,
        )
        tenders = await legacy.fetchval("SELECT count(*) FROM spse_tender")
        stored_tenders = await db.fetchval(
            "SELECT count(*) FROM tender WHERE source_id = $1", source
        )
    finally:
        await legacy.close()
        await blocker.close()
        await db.close()
    assert (stored["n"], stored["total"]) == (source_totals["n"], source_totals["total"])
    n = source_totals["n"]
    assert await created(store, source, "procurement_package") == (n, n, n, n)
    assert doubled == []  # no row of any entity CREATED twice
    assert stored_tenders == tenders

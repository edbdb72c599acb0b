"""Faults: the hub's own PostgreSQL drops every connection under load. Clients get clear
errors while it happens, the hub recovers without a restart, and no change event is lost
or sent twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from hub.app import create_app
from hub.events.outbox import parse_cursor
from hub.migrate import run_async
from hub.settings import Settings
from hub.store.synthetic import seed_canonical
from hub.sync.bindings import BY_ENTITY
from hub.sync.engine import asyncpg_dsn
from hub.sync.writer import Change, Writer
from tests.conftest import Server, running
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
        received = []
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


async def test_a_legacy_server_dropping_the_sync_mid_read(
    server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """bpbj-53's PostgreSQL kills the sync's connection while it reads: that source is DOWN
    with a clear lastError, its rows stay served (stale), the others sync; the next sync
    completes it, equal to the source, nothing doubled."""
    from adapters.mapping import load_config
    from hub.demo import generate_estate
    from hub.sync import SyncEngine

    result = await generate_estate(
        tmp_path_factory.mktemp("fault_estate"), scale="small", seed=2, pg_url=server.admin_url,
        mariadb_url=None, fiscal_years=(2025,), db_prefix=f"legacy_f{uuid.uuid4().hex[:6]}",
    )  # fmt: skip
    server.created.extend(result.postgres_databases)
    manifest = json.loads(result.manifest.read_text())
    legacy_url = manifest["sources"]["bpbj-53"]["url"]
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
        async with SyncEngine(store, load_config(result.config)) as engine:
            blocker = await asyncpg.connect(legacy_url)
            lock = blocker.transaction()
            await lock.start()
            await blocker.execute("LOCK TABLE rup_paket IN ACCESS EXCLUSIVE MODE")
            syncing = asyncio.create_task(engine.sync())
            victim = None
            for _ in range(300):  # the sync now waits on the lock, mid-read
                victim = await legacy.fetchval(
                    """SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                    AND wait_event_type = 'Lock' AND query ILIKE '%rup_paket%'"""
                )
                if victim:
                    break
                await asyncio.sleep(0.05)
            assert victim, "the sync did not reach the locked table"
            await legacy.execute("SELECT pg_terminate_backend($1)", victim)
            await lock.rollback()
            await blocker.close()
            reports = {r.source: r for r in await syncing}
            assert reports["bpbj-53"].status == "DOWN"
            assert "bpbj-53" in (reports["bpbj-53"].error or "")
            assert all(r.status == "OK" for s, r in reports.items() if s != "bpbj-53")

            app = create_app(store, Settings(database_url=store))
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
                    body = (
                        await c.post(
                            "/graphql",
                            json={"query": "{ sources { id status lastError } }"},
                        )
                    ).json()
            sources = {s["id"]: s for s in body["data"]["sources"]}
            assert sources["bpbj-53"]["status"] == "DOWN"
            assert sources["bpbj-53"]["lastError"]

            again = {r.source: r for r in await engine.sync()}
            assert again["bpbj-53"].status == "OK"
        conn = await asyncpg.connect(asyncpg_dsn(store))
        try:
            stored = await conn.fetchrow(
                "SELECT count(*) AS n, sum(ceiling) AS total FROM procurement_package "
                "WHERE source_id = 'bpbj-53'"
            )
            created = await conn.fetchval(
                "SELECT count(*) FROM change_history WHERE entity = 'procurement_package' "
                "AND source_id = 'bpbj-53' AND op = 'CREATED'"
            )
        finally:
            await conn.close()
        source = await legacy.fetchrow("SELECT count(*) AS n, sum(pagu) AS total FROM rup_paket")
    finally:
        await legacy.close()
    assert (stored["n"], stored["total"]) == (source["n"], source["total"])
    assert created == source["n"]  # every package created once, none twice

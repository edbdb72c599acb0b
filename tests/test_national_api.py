"""One Pemda's procurement through the national API, as `rantai demo` runs it: the estate's
SiRUP/SPSE database served by the INAPROC stand-in over real HTTP, the mappings rewritten
(`route_through_api`), synced into a real PostgreSQL; what the simulator writes into the
legacy database reaches the hub through the API."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import asyncpg
import pytest

from adapters.mapping import load_config
from estate.generate import generate_estate
from estate.inaproc import inaproc_app, select_page, serving
from estate.national_api import (
    API_REGION,
    DEMO_KEY,
    KEY_ENV,
    LegacyProcurement,
    route_through_api,
)
from estate.simulate.simulator import Simulator
from estate.writers import pg_dsn
from hub.db import asyncpg_dsn
from hub.migrate import run_async
from hub.sync.engine import SyncEngine
from tests.conftest import Server

RC = API_REGION.replace(".", "")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_a_pemdas_procurement_comes_through_the_national_api(
    server: Server, tmp_path: Path
) -> None:
    estate = tmp_path / "estate"
    result = await generate_estate(
        estate,
        scale="small",
        seed=3,
        pg_url=server.admin_url,
        mariadb_url=None,
        db_prefix=f"legacy_na{uuid.uuid4().hex[:6]}",
    )
    server.created.extend(result.postgres_databases)
    manifest = json.loads(result.manifest.read_text())
    legacy_url = manifest["sources"][f"bpbj-{RC}"]["url"]
    tables = manifest["sources"][f"bpbj-{RC}"]["tables"]
    store = await server.create_database("rantai_na")
    await run_async(store, "upgrade", "head")
    provider = LegacyProcurement(legacy_url, API_REGION)
    app = inaproc_app(provider, api_key=DEMO_KEY, rate=200)
    os.environ[KEY_ENV] = DEMO_KEY
    try:
        async with serving(app) as port:
            source_id = route_through_api(estate, f"http://127.0.0.1:{port}/api/v1")
            assert route_through_api(estate, f"http://127.0.0.1:{port}/api/v1") == source_id
            config = load_config(result.config)
            ids = {s.id for s in config.sources}
            assert f"inaproc-{RC}" in ids
            only = [f"bpkad-{RC}", f"bpbj-{RC}", f"inaproc-{RC}"]
            async with SyncEngine(store, config) as engine:
                reports = {r.source: r for r in await engine.sync(only)}
            assert reports[f"inaproc-{RC}"].status in ("OK", "DEGRADED"), reports
            assert reports[f"bpbj-{RC}"].status in ("OK", "DEGRADED"), reports
            conn = await asyncpg.connect(asyncpg_dsn(store))
            try:
                counts = {
                    table: await conn.fetchval(
                        f"SELECT count(*) FROM {table} WHERE source_id = $1", f"inaproc-{RC}"
                    )
                    for table in ("procurement_package", "tender", "bid", "tender_package")
                }
            finally:
                await conn.close()
            waiting = reports[f"inaproc-{RC}"].waiting
            assert counts["procurement_package"] == tables["rup_paket"], waiting
            assert counts["tender"] == tables["spse_tender"]
            assert counts["bid"] == tables["spse_peserta"]
            assert counts["tender_package"] == tables["spse_tender_rup"]
            # The BPBJ database keeps the rest: schedules and contracts, no packages.
            legacy_rows = await _count(store, "procurement_package", f"bpbj-{RC}")
            assert legacy_rows == 0
            assert await _count(store, "contract", f"bpbj-{RC}") == tables["spse_kontrak"]

            # What the simulator writes into the Pemda's SPSE reaches the hub via the API.
            before = await _count(store, "bid", f"inaproc-{RC}")
            legacy = await asyncpg.connect(pg_dsn(legacy_url))
            try:
                await legacy.execute(
                    "UPDATE rup_paket SET pagu = pagu + 1000, updated_at = now() "
                    "WHERE kd_rup = (SELECT min(kd_rup) FROM rup_paket)"
                )
                code = await legacy.fetchval("SELECT min(kd_rup)::text FROM rup_paket")
                pagu = await legacy.fetchval(
                    "SELECT pagu FROM rup_paket WHERE kd_rup::text = $1", code
                )
            finally:
                await legacy.close()
            async with Simulator(estate, seed=5) as simulator:
                for _ in range(12):
                    await simulator.step()
            async with SyncEngine(store, load_config(result.config)) as engine:
                again = {r.source: r for r in await engine.sync(only)}
            assert again[f"inaproc-{RC}"].status in ("OK", "DEGRADED"), again
            stream = next(
                s for s in again[f"inaproc-{RC}"].streams if s.entity == "procurement_package"
            )
            assert stream.mode == "watermark"
            assert stream.read >= 1
            conn = await asyncpg.connect(asyncpg_dsn(store))
            try:
                stored = await conn.fetchval(
                    "SELECT ceiling FROM procurement_package WHERE rup_code = $1", code
                )
            finally:
                await conn.close()
            assert stored == pagu
            assert await _count(store, "bid", f"inaproc-{RC}") >= before
    finally:
        await provider.close()
        os.environ.pop(KEY_ENV, None)


async def test_the_legacy_database_cuts_the_pages_the_stand_in_serves(
    server: Server, tmp_path: Path
) -> None:
    """`LegacyProcurement.page` filters, orders and cuts in SQL (a page costs its rows, not
    the year's); its pages are exactly `select_page` over every record, with and without
    `updated_since`, after the simulator has written."""
    result = await generate_estate(
        tmp_path / "estate", scale="small", seed=4, pg_url=server.admin_url, mariadb_url=None,
        fiscal_years=(2026,), db_prefix=f"legacy_pg{uuid.uuid4().hex[:6]}",
    )  # fmt: skip
    server.created.extend(result.postgres_databases)
    manifest = json.loads(result.manifest.read_text())
    provider = LegacyProcurement(manifest["sources"][f"bpbj-{RC}"]["url"], API_REGION)
    try:
        async with Simulator(tmp_path / "estate", seed=2) as simulator:
            for _ in range(8):
                await simulator.step()
        for kind in ("rup", "tender"):
            every = await provider.records(kind, 2026)
            stamps = sorted(r["updated_at"] for r in every if r["updated_at"])
            assert len(every) > 20
            assert stamps
            for since in (None, stamps[len(stamps) // 2], stamps[-1]):
                expected, total = select_page(every, kind, since, 0, len(every))
                for limit in (7, 1000):
                    pages: list[dict[str, object]] = []
                    offset = 0
                    while True:
                        rows, counted = await provider.page(kind, 2026, since, offset, limit)
                        assert counted == total, (kind, since, offset)
                        assert len(rows) <= limit
                        pages += rows
                        offset += limit
                        if offset >= counted:
                            break
                    assert pages == expected, (kind, since, limit)
            assert await provider.page(kind, 2026, None, len(every) + 5, 10) == ([], len(every))
    finally:
        await provider.close()


async def _count(store: str, table: str, source_id: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(store))
    try:
        return int(
            await conn.fetchval(f"SELECT count(*) FROM {table} WHERE source_id = $1", source_id)
        )
    finally:
        await conn.close()

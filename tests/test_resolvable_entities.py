"""What clients are told about changes and ketimpangan names what `node(id)` resolves.

Change events and evidence items name an entity and its id. Clients resolve them as
GraphQL types implementing Node, so rows that have no type of their own (a RUP package's
budget rows and versions, a tender's package links and schedule) are named as their
package or tender, in the field that shows them. change_history keeps the rows' own
entity and natural key, for auditors.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from graphql import GraphQLObjectType

from adapters.mapping import load_config
from estate.generate import generate_estate
from hub.db import asyncpg_dsn
from hub.discrepancies.engine import DiscrepancyEngine
from hub.jobs import SyncJob
from hub.migrate import run_async
from hub.sync.bindings import BY_ENTITY
from schema import schema
from schema.fields import ROW_TYPES
from tests.conftest import Server

SOURCE = "bpbj-53"  # the province's procurement source (SiRUP and SPSE tables)


def node_tables() -> dict[str, str]:
    """The served schema's object types that implement Node, and the table of each."""
    out = {}
    for name, kind in schema._schema.type_map.items():
        if isinstance(kind, GraphQLObjectType) and any(i.name == "Node" for i in kind.interfaces):
            table = ROW_TYPES[name].table
            assert table is not None, name
            out[name] = table.name
    return out


NODES = node_tables()


@dataclass
class Estate:
    store: str  # SQLAlchemy URL of the synced store
    legacy_url: str  # SOURCE's legacy database
    engine: SyncJob

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.store))
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def legacy(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.legacy_url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def missing(self, entity: str, ids: list[int]) -> list[int]:
        """Those of `ids` that have no row in `entity`'s table."""
        found = await self.fetch(f"SELECT id FROM {NODES[entity]} WHERE id = ANY($1)", ids)
        return sorted(set(ids) - {r[0] for r in found})


@pytest.fixture(scope="module")
async def estate(server: Server, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Estate]:
    """The small demo estate (finance on SQLite) synced into a new store, rules run."""
    data_dir: Path = tmp_path_factory.mktemp("resolvable")
    result = await generate_estate(
        data_dir,
        scale="small",
        seed=2,
        pg_url=server.admin_url,
        mariadb_url=None,
        db_prefix=f"legacy_r{uuid.uuid4().hex[:6]}",
    )
    server.created.extend(result.postgres_databases)
    manifest = json.loads(result.manifest.read_text())
    store = await server.create_database("rantai_resolvable")
    await run_async(store, "upgrade", "head")
    async with SyncJob(store, load_config(result.config)) as engine:
        await engine.sync()
        yield Estate(store, manifest["sources"][SOURCE]["url"], engine)


def test_the_served_schema_has_the_parents_internal_rows_are_named_as() -> None:
    assert {"ProcurementPackage", "Tender", "Discrepancy"} <= set(NODES)
    for entity in ("package_budget_row", "package_version", "tender_package", "tender_schedule"):
        binding = BY_ENTITY[entity]
        assert binding.type_name in NODES, entity
        assert binding.part_of is not None, entity


async def test_every_change_event_names_a_node_type_and_a_row_of_it(estate: Estate) -> None:
    rows = await estate.fetch("SELECT entity, op, entity_id FROM outbox")
    by_entity: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        assert row["entity"] in NODES, row["entity"]
        if row["op"] not in ("DELETED", "LOADED"):  # LOADED: a whole first load, no one row
            by_entity[row["entity"]].append(row["entity_id"])
    # The internal rows were synced, and are reported (as their package or tender).
    synced = await estate.fetch(
        """SELECT h.entity, count(o.id) FROM change_history h
        LEFT JOIN outbox o ON o.history_id = h.id WHERE h.entity = ANY($1) GROUP BY 1""",
        ["package_budget_row", "package_version", "tender_package", "tender_schedule"],
    )
    assert len(synced) == 4
    assert all(r[1] > 0 for r in synced), synced
    for entity, ids in by_entity.items():
        assert await estate.missing(entity, ids) == [], entity


async def _routing(estate: Estate, parent: str, parent_id: int) -> tuple[Any, ...]:
    """The Pemda, OPD and year the parent's own changes are routed to."""
    [row] = await estate.fetch(BY_ENTITY[parent].context, [parent_id])
    return tuple(row[1:])


async def test_a_change_to_a_row_without_a_type_is_an_update_of_its_parent_field(
    estate: Estate,
) -> None:
    # Given one change of each such row in the legacy source: a budget row updated, a
    # version and a tender-package link created, a schedule stage deleted.
    [budget] = await estate.legacy(
        """UPDATE rup_anggaran SET pagu = pagu + 1000,
           updated_at = (SELECT max(updated_at) FROM rup_anggaran) + interval '1 second'
           WHERE id = (SELECT min(id) FROM rup_anggaran) RETURNING kd_rup::text, mak"""
    )
    [version] = await estate.legacy(
        """INSERT INTO rup_paket_histori
           SELECT kd_rup, versi + 100, pagu, status_umumkan, tgl_versi FROM rup_paket_histori
           ORDER BY kd_rup, versi LIMIT 1 RETURNING kd_rup::text, versi"""
    )
    [link] = await estate.legacy(
        """INSERT INTO spse_tender_rup (kd_tender, kd_rup, auditupdate)
           SELECT t.kd_tender, (SELECT min(p.kd_rup) FROM rup_paket p WHERE p.kd_rup NOT IN
                  (SELECT l.kd_rup FROM spse_tender_rup l WHERE l.kd_tender = t.kd_tender)),
                  (SELECT max(auditupdate) FROM spse_tender_rup) + interval '1 second'
           FROM (SELECT min(kd_tender) AS kd_tender FROM spse_tender) t
           RETURNING kd_tender::text, kd_rup::text"""
    )
    [stage] = await estate.legacy(
        """DELETE FROM spse_jadwal WHERE (kd_tender, tahapan) =
           (SELECT kd_tender, tahapan FROM spse_jadwal ORDER BY kd_tender, tahapan LIMIT 1)
           RETURNING kd_tender::text, tahapan"""
    )
    [(position,)] = await estate.fetch("SELECT max(id) FROM outbox")

    # When the source is synced again.
    await estate.engine.sync([SOURCE])

    # Then history has each row under its own entity and natural key, and the outbox the
    # parent, by its id, UPDATED in the field that shows the row, routed as the parent is.
    rows = await estate.fetch(
        """SELECT h.entity AS row_entity, h.natural_key, h.op AS row_op, o.entity, o.entity_id,
                  o.op, o.changed_fields, o.region_code, o.opd_code, o.fiscal_year
        FROM outbox o JOIN change_history h ON h.id = o.history_id
        WHERE o.id > $1 AND h.entity = ANY($2) ORDER BY o.id""",
        position,
        ["package_budget_row", "package_version", "tender_package", "tender_schedule"],
    )
    stored = await estate.fetch("SELECT id, rup_code FROM procurement_package")
    packages = {r["rup_code"]: r["id"] for r in stored}
    tenders = {r["code"]: r["id"] for r in await estate.fetch("SELECT id, code FROM tender")}
    mak = BY_ENTITY["package_budget_row"].fields["mak"]({"mak": budget[1]})  # as stored
    expected = [
        ("package_budget_row", f"{budget[0]}/{mak}", "UPDATED")
        + ("ProcurementPackage", packages[budget[0]], "UPDATED", ["budget_rows"])
        + await _routing(estate, "procurement_package", packages[budget[0]]),
        ("package_version", f"{version[0]}/{version[1]}", "CREATED")
        + ("ProcurementPackage", packages[version[0]], "UPDATED", ["versions"])
        + await _routing(estate, "procurement_package", packages[version[0]]),
        ("tender_package", f"{link[0]}/{link[1]}", "CREATED")
        + ("Tender", tenders[link[0]], "UPDATED", ["packages"])
        + await _routing(estate, "tender", tenders[link[0]]),
        ("tender_schedule", f"{stage[0]}/{stage[1]}", "DELETED")
        + ("Tender", tenders[stage[0]], "UPDATED", ["schedule"])
        + await _routing(estate, "tender", tenders[stage[0]]),
    ]
    assert sorted(tuple(r) for r in rows) == sorted(expected)


async def test_every_evidence_item_names_a_node_type_and_a_row_of_it(estate: Estate) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(estate.store))
    try:
        await DiscrepancyEngine().run(conn, full=True)
    finally:
        await conn.close()
    items = await estate.fetch(
        """SELECT d.rule, e.entity, e.id, e.field
        FROM discrepancy d, jsonb_to_recordset(d.evidence) AS e(entity text, id int8, field text)
        WHERE d.resolved_at IS NULL"""
    )
    by_entity: dict[str, list[int]] = defaultdict(list)
    for item in items:
        assert item["entity"] in NODES, (item["rule"], item["entity"])
        by_entity[item["entity"]].append(item["id"])
    for entity, ids in by_entity.items():
        assert await estate.missing(entity, ids) == [], entity
    # The rules that read package versions and tender schedules had findings to check.
    shown = {(i["rule"], i["entity"], i["field"]) for i in items}
    assert ("PUBLISHED_VALUE_CHANGED", "ProcurementPackage", "versions") in shown
    assert ("SHORT_BID_WINDOW", "Tender", "schedule") in shown


# Evidence as the rules wrote it before they named versions and schedules as their
# package's and tender's fields.
AS_BEFORE = """UPDATE discrepancy d SET evidence = (
    SELECT jsonb_agg(CASE e->>'field'
        WHEN 'versions' THEN e || '{"entity": "PackageVersion", "field": "ceiling"}'
        WHEN 'schedule' THEN e || '{"entity": "TenderSchedule", "field": "endsOn"}'
        ELSE e END ORDER BY n)
    FROM jsonb_array_elements(d.evidence) WITH ORDINALITY AS x(e, n))
WHERE d.rule IN ('PUBLISHED_VALUE_CHANGED', 'SHORT_BID_WINDOW') AND d.resolved_at IS NULL"""


async def test_findings_with_evidence_as_before_are_updated_not_raised_again(
    estate: Estate,
) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(estate.store))
    try:
        await DiscrepancyEngine().run(conn, full=True)
        changed = int((await conn.execute(AS_BEFORE)).split()[-1])
        position = await conn.fetchval("SELECT max(id) FROM outbox")
        report = await DiscrepancyEngine().run(conn, full=True)
        events = await conn.fetchval("SELECT count(*) FROM outbox WHERE id > $1", position)
    finally:
        await conn.close()
    assert changed > 0
    assert (report.raised, report.resolved, report.updated) == (0, 0, changed)
    assert events == 0

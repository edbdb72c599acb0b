"""The link resolution after a sync re-checks derived links only in the Pemda where their
inputs were written (`LinkColumn.scope`, `inputs`) and null links only when a parent of
their kind was inserted (`LinkColumn.parent`; both noted by triggers, migrations 0017 and
0020): after each kind of write to a derived link's inputs, in any Pemda, a pass over
every row of every table finds nothing the scoped pass left; a Pemda nobody wrote to is
not read, nor a derived link none of whose inputs was written.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import asyncpg
import pytest

from adapters.mapping import load_config
from hub.migrate import run_async
from hub.store.models import metadata
from hub.sync import engine as sync_engine
from hub.sync.links import LINKS, resolve_rows
from hub.sync.relink import resolve_links
from tests.conftest import Server, asyncpg_dsn
from tests.test_sync_bulk import small_estate

pytestmark = pytest.mark.slow

# Each a write a sync could make, in the region of the first Pemda that has the rows (`$1`),
# returning the ids it wrote: the writer resolves the rows it writes (`resolve_rows`).
EDITS = {
    "an addendum raises a contract's value": """
        INSERT INTO contract_amendment (region_id, contract_number, version, value, source_id,
            source_key, synced_at)
        SELECT c.region_id, c.number, 99, c.value + 1000, c.source_id, 'scope-' || c.id, now()
        FROM contract c WHERE c.region_id = $1 ORDER BY c.id LIMIT 1 RETURNING id""",
    "a winning bid is withdrawn": """
        DELETE FROM bid WHERE id = (SELECT b.id FROM bid b JOIN tender t ON t.code = b.tender_code
            WHERE b.is_winner AND t.region_id = $1 ORDER BY b.id LIMIT 1) RETURNING id""",
    "a RUP package is deleted": """
        DELETE FROM procurement_package WHERE id = (SELECT p.id FROM procurement_package p
            WHERE p.region_id = $1 AND p.sub_activity_id IS NOT NULL
            AND EXISTS (SELECT 1 FROM tender_package tp WHERE tp.rup_code = p.rup_code)
            ORDER BY p.id LIMIT 1) RETURNING id""",
    "a budget row moves to another sub kegiatan": """
        UPDATE package_budget_row r SET sub_activity_code = s.code, mak = s.code || '.x.'
        FROM (SELECT p.rup_code, (SELECT s.code FROM sub_activity s WHERE s.region_id = p.region_id
                AND s.fiscal_year = p.fiscal_year AND s.id <> p.sub_activity_id
                ORDER BY s.id DESC LIMIT 1) AS code
            FROM procurement_package p WHERE p.region_id = $1 AND p.sub_activity_id IS NOT NULL
            ORDER BY p.id LIMIT 1) s
        WHERE r.rup_code = s.rup_code RETURNING r.id""",
    "a tender covers one more package": """
        INSERT INTO tender_package (tender_code, rup_code, source_id, source_key, synced_at)
        SELECT c.tender_code, '1', c.source_id, 'scope-tp', now() FROM contract c
        JOIN tender t ON t.code = c.tender_code WHERE c.region_id = $1 ORDER BY c.id LIMIT 1
        RETURNING id""",
    "a RUP package moves to another Pemda": """
        UPDATE procurement_package SET region_id = (SELECT min(id) FROM region WHERE id <> $1)
        WHERE id = (SELECT p.id FROM procurement_package p WHERE p.region_id = $1
            AND EXISTS (SELECT 1 FROM package_budget_row r WHERE r.rup_code = p.rup_code
                AND r.budget_line_id IS NOT NULL) ORDER BY p.id DESC LIMIT 1) RETURNING id""",
}


TABLES = {name: re.findall(r"(?:INTO|FROM|UPDATE) (\w+)", sql)[0] for name, sql in EDITS.items()}
TABLES["a winning bid is withdrawn"] = "bid"


async def _store(server: Server, tmp_path: Path, seed: int) -> str:
    estate = await small_estate(server, tmp_path, seed)
    url = await server.create_database("rantai_scope")
    await run_async(url, "upgrade", "head")
    async with sync_engine.SyncEngine(url, load_config(estate.config)) as engine:
        reports = await engine.sync()
        assert all(r.status == "OK" for r in reports), [(r.source, r.error) for r in reports]
    return url


async def test_every_kind_of_input_write_is_resolved_in_scope(
    server: Server, tmp_path: Path
) -> None:
    url = await _store(server, tmp_path, 11)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM link_scope_noted") == 0
        regions = [
            r["region_id"]
            for r in await conn.fetch(
                "SELECT region_id, count(*) FROM contract GROUP BY 1 ORDER BY 2 DESC"
            )
        ]
        assert len(regions) >= 2
        for name, edit in EDITS.items():
            ids = [r[0] for r in await conn.fetch(edit, regions[0])]
            assert ids, name
            await resolve_rows(conn, TABLES[name], ids)
            assert await conn.fetchval("SELECT count(*) FROM link_scope_noted") > 0, name
            # The Pemda the edit wrote is noted, not the others.
            noted = {r[0] for r in await conn.fetch("SELECT region_id FROM link_scope_noted")}
            assert regions[0] in noted, name
            moved = await resolve_links(conn)
            assert await conn.fetchval("SELECT count(*) FROM link_scope_noted") == 0, name
            # Nothing the scoped pass left for a pass over every row of every table.
            assert await resolve_links(conn, force=True) == 0, (name, moved)
    finally:
        await conn.close()


async def test_a_pemda_nobody_wrote_to_is_not_read(server: Server, tmp_path: Path) -> None:
    url = await _store(server, tmp_path, 12)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        regions = [
            r["region_id"]
            for r in await conn.fetch(
                "SELECT region_id, count(*) FROM contract GROUP BY 1 ORDER BY 2 DESC"
            )
        ]
        # A contract value made wrong in the second Pemda without noting it (as the link
        # resolution writes): only a pass over every row would find it.
        async with conn.transaction():
            await conn.execute("SET LOCAL rantai.link_scope_resolving = on")
            await conn.execute(
                "UPDATE contract SET value = value + 1 WHERE id = "
                "(SELECT min(id) FROM contract WHERE region_id = $1)",
                regions[1],
            )
        assert await conn.fetchval("SELECT count(*) FROM link_scope_noted") == 0
        (added,) = await conn.fetch(EDITS["an addendum raises a contract's value"], regions[0])
        assert await resolve_rows(conn, "contract_amendment", [added[0]])  # its contract
        # The first Pemda's addendum: that contract's value.
        assert await resolve_links(conn) == 1
        assert await resolve_links(conn, force=True) == 1  # the second's value
    finally:
        await conn.close()


async def test_a_derived_link_whose_inputs_were_not_written_is_not_read(
    server: Server, tmp_path: Path
) -> None:
    url = await _store(server, tmp_path, 13)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        region = await conn.fetchval(
            "SELECT r.region_id FROM package_budget_row b JOIN contract c ON true "
            "JOIN procurement_package r ON r.rup_code = b.rup_code "
            "WHERE b.budget_line_id IS NOT NULL AND c.region_id = r.region_id "
            "ORDER BY 1 LIMIT 1"
        )
        # A budget row's DPA line made wrong in that Pemda without noting it.
        async with conn.transaction():
            await conn.execute("SET LOCAL rantai.link_scope_resolving = on")
            await conn.execute(
                "UPDATE package_budget_row SET budget_line_id = NULL WHERE id = (SELECT min(b.id) "
                "FROM package_budget_row b JOIN procurement_package p ON p.rup_code = b.rup_code "
                "WHERE p.region_id = $1 AND b.budget_line_id IS NOT NULL)",
                region,
            )
        (added,) = await conn.fetch(EDITS["an addendum raises a contract's value"], region)
        assert await resolve_rows(conn, "contract_amendment", [added[0]])
        noted = await conn.fetch("SELECT DISTINCT region_id, table_name FROM link_scope_noted")
        assert [tuple(r) for r in noted] == [(region, "contract_amendment")]
        # The addendum moves its contract's value; the budget rows are not its inputs.
        assert await resolve_links(conn) == 1
        assert await resolve_links(conn, force=True) == 1  # the budget row's DPA line
    finally:
        await conn.close()


def _noted_tables() -> set[str]:
    """The tables whose writes note their Pemda (migration 0017's triggers)."""
    path = Path(__file__).parents[1] / "migrations" / "versions" / "0017_link_scope.py"
    spec = importlib.util.spec_from_file_location("link_scope_0017", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.NOTED)


def test_every_derived_link_has_a_scope_naming_the_noted_pemda_and_noted_inputs() -> None:
    noted = _noted_tables()
    for link in LINKS:
        if link.derived:
            assert "ANY($1::int8[])" in link.scope, link
            assert link.table in link.inputs, link
            assert set(link.inputs) <= noted, (link, set(link.inputs) - noted)
            # Every table its value reads is one of its inputs.
            read = set(re.findall(r"(?:FROM|JOIN)\s+(\w+)\s+\w+\s", link.value))
            assert read <= set(link.inputs), (link, read - set(link.inputs))
        else:
            assert not link.inputs, link


async def test_a_null_link_is_checked_when_a_parent_of_its_kind_arrives(
    server: Server, tmp_path: Path
) -> None:
    """A payment naming a contract not stored yet keeps a null link until the contract is
    inserted; payments written alone (no parent inserted) do not re-read the null links."""
    url = await _store(server, tmp_path, 13)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM link_parent_noted") == 0
        contract = await conn.fetchrow(
            "SELECT * FROM contract WHERE id = (SELECT min(contract_id) FROM payment)"
        )
        # As if the contract's source had not synced it yet: its payments' link is null.
        async with conn.transaction():
            await conn.execute("SET LOCAL rantai.link_scope_resolving = on")
            await conn.execute(
                "UPDATE payment SET contract_id = NULL WHERE contract_id = $1", contract["id"]
            )
            await conn.execute(
                "UPDATE letter SET contract_id = NULL WHERE contract_id = $1", contract["id"]
            )
            await conn.execute(
                "UPDATE contract_amendment SET contract_id = NULL WHERE contract_id = $1",
                contract["id"],
            )
            await conn.execute("DELETE FROM contract WHERE id = $1", contract["id"])
        waiting = await conn.fetchval(
            "SELECT count(*) FROM payment WHERE contract_id IS NULL AND region_id = $1 "
            "AND contract_number = $2",
            contract["region_id"],
            contract["number"],
        )
        assert waiting > 0
        await conn.execute(
            "UPDATE payment SET amount = amount WHERE contract_number = $1", contract["number"]
        )
        assert await conn.fetchval("SELECT count(*) FROM link_parent_noted") == 0
        assert await resolve_links(conn) == 0  # a Pemda noted, no parent: nothing moves
        columns = [c for c in dict(contract) if c != "id"]
        await conn.execute(
            f"INSERT INTO contract ({', '.join(columns)}) "
            f"VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})",
            *(contract[c] for c in columns),
        )
        noted = await conn.fetch("SELECT parent, region_id FROM link_parent_noted")
        assert [tuple(r) for r in noted] == [("contract", contract["region_id"])]
        assert await resolve_links(conn) >= waiting
        assert await resolve_links(conn, force=True) == 0
    finally:
        await conn.close()


async def test_every_parent_notes_its_inserts(server: Server) -> None:
    url = await server.create_database("rantai_scope")
    await run_async(url, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        noting = {
            r[0]
            for r in await conn.fetch(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = 'link_parent_insert'"
            )
        }
    finally:
        await conn.close()
    assert {link.parent for link in LINKS if not link.derived} == noting
    # A link found within its row's Pemda is of a row that has one, as its parent has.
    for link in LINKS:
        if link.by_region:
            assert "region_id" in metadata.tables[link.table].c, link


async def test_a_null_link_found_by_region_is_checked_in_its_parents_pemda_only(
    server: Server, tmp_path: Path
) -> None:
    """A contract inserted in one Pemda re-checks the null links of that Pemda's payments,
    not another's (whose wrong null link only a pass over every row finds)."""
    url = await _store(server, tmp_path, 14)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        first, second = [
            r[0]
            for r in await conn.fetch(
                "SELECT region_id FROM payment WHERE contract_id IS NOT NULL "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 2"
            )
        ]
        async with conn.transaction():  # a link of the second Pemda made null unnoted
            await conn.execute("SET LOCAL rantai.link_scope_resolving = on")
            await conn.execute(
                "UPDATE payment SET contract_id = NULL WHERE id = "
                "(SELECT min(id) FROM payment WHERE region_id = $1 AND contract_id IS NOT NULL)",
                second,
            )
        contract = await conn.fetchrow(
            "SELECT * FROM contract WHERE region_id = $1 ORDER BY id LIMIT 1", first
        )
        columns = [c for c in dict(contract) if c not in ("id", "number", "source_key")]
        await conn.execute(
            f"INSERT INTO contract (number, source_key, {', '.join(columns)}) "
            f"VALUES ('SCOPE/1', 'scope-1', {', '.join(f'${i + 1}' for i in range(len(columns)))})",
            *(contract[c] for c in columns),
        )
        assert await resolve_links(conn) == 0  # the first Pemda's payments: none waits for it
        assert await resolve_links(conn, force=True) == 1  # the second Pemda's payment
    finally:
        await conn.close()

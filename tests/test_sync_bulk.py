"""The set-based insert path of the writer against its reference, on the demo estate.

`Writer(bulk=True)` (what the engine uses) inserts a batch's new rows with their links in
one statement (`hub.sync.inserts.InsertPlan`) and records them in one more; `bulk=False`
inserts, then resolves each link and records the changes as separate statements, as the
writer always did. Synced one source at a time (so ids are assigned in the same
order), both must leave exactly the same store: every row of every table, ids, links,
provenance, history (before and after) and outbox rows (routing, changed fields), and a
second sync must change nothing in either.
"""

from __future__ import annotations

import functools
import re
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import UniqueConstraint

from adapters.mapping import load_config
from estate.generate import EstateResult, generate_estate
from hub.migrate import run_async
from hub.store.models import metadata
from hub.sync import engine as sync_engine
from hub.sync.bindings import BINDINGS, BY_ENTITY, DETACHED
from hub.sync.inserts import insert_plan
from hub.sync.links import LINKS, STATEMENTS
from hub.sync.writer import Writer
from tests.conftest import Server, asyncpg_dsn

# Set by the database or the clock, not by the sync's logic.
TIMES = {"synced_at", "occurred_at", "updated_at", "last_synced_at", "last_success_at"}
TIMES |= {"last_tried_at", "first_seen_at", "last_seen_at", "created_at", "last_run"}
TIMES |= {"loaded_at"}  # when the reference data was loaded (migration 0010)


async def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        out = {}
        for table in metadata.sorted_tables:
            columns = [c.name for c in table.columns if c.name not in TIMES]
            order = "id" if "id" in table.c else ", ".join(columns)
            rows = await conn.fetch(
                f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY {order}"
            )
            out[table.name] = [tuple(r) for r in rows]
        return out
    finally:
        await conn.close()


async def small_estate(server: Server, tmp_path: Path, seed: int) -> EstateResult:
    """A small legacy estate (finance on SQLite) whose databases the server drops after."""
    estate = await generate_estate(
        tmp_path / "estate",
        scale="small",
        seed=seed,
        pg_url=server.admin_url,
        mariadb_url=None,
        db_prefix=f"legacy_{seed}_{uuid.uuid4().hex[:6]}",
    )
    server.created.extend(estate.postgres_databases)
    return estate


async def synced(
    server: Server,
    config_file: Path,
    bulk: bool,
    monkeypatch: pytest.MonkeyPatch,
    detached: frozenset[str] = frozenset(),
) -> dict[str, list[tuple[Any, ...]]]:
    url = await server.create_database("rantai_bulk")
    await run_async(url, "upgrade", "head")
    monkeypatch.setattr(sync_engine, "Writer", functools.partial(Writer, bulk=bulk))
    # Detached streams write beside their source's other streams, so history ids would
    # interleave differently from run to run; the writer comparison runs them in line.
    monkeypatch.setattr(sync_engine, "DETACHED", detached)
    async with sync_engine.SyncEngine(url, load_config(config_file), concurrency=1) as engine:
        first = await engine.sync()
        assert all(r.status == "OK" for r in first), [(r.source, r.error) for r in first]
        second = await engine.sync()
        assert sum(r.changes for r in second) == 0
        # After a sync only null and derived links are re-resolved: a pass over every row
        # of every table finds nothing they left.
        assert await engine.resolve_links(force=True) == 0
    return await dump(url)


def test_links_not_derived_are_one_parent_by_natural_key() -> None:
    """What lets a sync re-resolve only null links (LinkColumn.derived): each other link is one
    parent, found by a unique key that never changes, whose deletion sets the link to null."""
    for link in LINKS:
        if link.derived:
            continue
        parents = re.findall(r"(?:FROM|JOIN)\s+(\w+)\s+\w+\s", link.value)
        assert len(parents) == 1, link
        table = metadata.tables[link.table]
        (fk,) = table.c[link.column].foreign_keys
        assert fk.column.table.name == parents[0], link
        assert fk.ondelete == "SET NULL", link
        key = re.findall(r"\b[a-z]\.(\w+) = (?:x\.|p\.k)", link.value)
        unique = [
            {c.name for c in u.columns}
            for u in metadata.tables[parents[0]].constraints
            if isinstance(u, UniqueConstraint)
        ]
        assert set(key) in unique, link
        # … the key rows are upserted by, so a stored parent's key never changes.
        binding = BY_ENTITY.get(parents[0])
        assert binding is None or set(binding.key or ()) == set(key), link


def test_every_binding_but_region_has_a_set_based_insert() -> None:
    plans = {b.entity: insert_plan(b) for b in BINDINGS}
    assert plans.pop("region") is None  # its parent link reads its own table
    assert all(plans.values())


@pytest.mark.slow
async def test_bulk_and_reference_paths_leave_the_same_store(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = await small_estate(server, tmp_path, 3)
    reference = await synced(server, estate.config, False, monkeypatch)
    bulk = await synced(server, estate.config, True, monkeypatch)
    assert reference["change_history"]
    assert len(reference["outbox"]) == len(reference["change_history"])
    for table, rows in reference.items():
        assert bulk[table] == rows, table


def unordered(rows: list[tuple[Any, ...]], ids: int) -> list[tuple[Any, ...]]:
    """Rows without their first `ids` columns (history: its id; outbox: its id and the
    history id), sorted: the same changes, whatever order they committed in."""
    return sorted((tuple(r[ids:]) for r in rows), key=repr)


@pytest.mark.slow
async def test_detached_streams_change_when_rows_are_written_not_what(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bpbj's package versions (DETACHED) are written on a connection of their own beside
    the source's other streams: every table holds the same rows with the same ids as when
    they are written in line, and history and outbox hold the same changes."""
    assert DETACHED, "nothing is detached: this test would compare a run with itself"
    estate = await small_estate(server, tmp_path, 4)
    inline = await synced(server, estate.config, True, monkeypatch)
    beside = await synced(server, estate.config, True, monkeypatch, DETACHED)
    assert inline["package_version"]
    ids = {"change_history": 1, "outbox": 2}
    for table, rows in inline.items():
        if table in ids:
            assert unordered(beside[table], ids[table]) == unordered(rows, ids[table]), table
        else:
            assert beside[table] == rows, table


@pytest.mark.slow
async def test_budget_rows_move_their_packages_sub_kegiatan_in_their_own_batches(
    server: Server, tmp_path: Path
) -> None:
    """A RUP package's sub kegiatan is derived from its budget rows, which are written
    after it (links.DEPENDENTS): the budget rows' batches set it and record the move, so
    it is right before any link resolution runs."""
    estate = await small_estate(server, tmp_path, 5)
    url = await server.create_database("rantai_dependents")
    await run_async(url, "upgrade", "head")
    config = load_config(estate.config)
    link = next(
        x for x in LINKS if (x.table, x.column) == ("procurement_package", "sub_activity_id")
    )
    whole = next(find for x, find, _, _ in STATEMENTS if x is link)
    async with sync_engine.SyncEngine(url, config, concurrency=1) as engine:
        await engine.register(config.sources)
        plan = [s for s in config.sources if s.id.startswith("bappeda-")]
        procurement = [s for s in config.sources if s.id.startswith("bpbj-")]
        for source in sorted(plan, key=lambda s: len(s.id)) + procurement:
            report = await engine.sync_source(source)  # no link resolution after it
            assert report.status == "OK", (source.id, report.error)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        assert await conn.fetch(whole) == []  # nothing left for link resolution to move
        linked = await conn.fetchval(
            "SELECT count(*) FROM procurement_package WHERE sub_activity_id IS NOT NULL"
        )
        moved = await conn.fetch(
            """SELECT h.source_id, h.before, h.after FROM change_history h
            WHERE h.entity = 'procurement_package' AND h.op = 'UPDATED'"""
        )
    finally:
        await conn.close()
    assert linked > 100
    assert len(moved) == linked  # each package moved once, from null, by its source
    assert {r["source_id"] for r in moved} <= {s.id for s in procurement}
    for row in moved:
        assert '"sub_activity_id": null' in row["before"]
        assert '"sub_activity_id": ' in row["after"]

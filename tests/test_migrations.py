"""Alembic migrations on real PostgreSQL: they round-trip and match the models."""

from __future__ import annotations

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from hub.migrate import head_revision, run_async
from hub.store.models import include_object, metadata
from tests.conftest import Server, asyncpg_dsn


async def tables(url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        return {r["table_name"] for r in rows}
    finally:
        await conn.close()


async def test_upgrade_downgrade_upgrade(server: Server) -> None:
    url = await server.create_database("rantai_migrate")
    await run_async(url, "upgrade", "head")
    upgraded = await tables(url)
    assert {
        "sub_activity",
        "tender",
        "payment",
        "sub_activity_rollup",
        "alembic_version",
    } <= upgraded
    await run_async(url, "downgrade", "base")
    assert await tables(url) == {"alembic_version"}
    await run_async(url, "upgrade", "head")
    assert await tables(url) == upgraded


async def test_migrations_match_the_models(store_url: str) -> None:
    engine = create_async_engine(store_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_object": include_object}),
                    metadata,
                )
            )
            revision = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()
    assert diff == []
    assert revision == head_revision()


async def test_every_foreign_key_is_indexed(store_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(store_url))
    try:
        unindexed = await conn.fetch(
            """
            SELECT c.conrelid::regclass::text AS tbl, a.attname AS col
            FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND NOT EXISTS (
                SELECT 1 FROM pg_index i
                WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
            """
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in unindexed] == []


async def test_synced_tables_carry_provenance_and_a_natural_key(store_url: str) -> None:
    synced = [t for t in metadata.sorted_tables if "synced_at" in t.c]
    assert len(synced) >= 15
    for table in synced:
        assert {"source_id", "source_key", "source_updated_at", "synced_at"} <= set(table.c.keys())
        natural_keys = [c for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"]
        unique_columns = [c for c in table.c if c.unique]
        assert natural_keys or unique_columns or table.name == "region", table.name

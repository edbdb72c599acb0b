"""An initial load is a baseline, not one change per row.

When a stream is first loaded into a store that has none of its table's rows from its
source, its new rows are written without per-row CREATED history and outbox rows (the
writer's `quiet`); when the stream is done, one LOADED event per Pemda and fiscal year
(entity, count, source) goes to history and the outbox, in the transaction that ends the
load. Subscribers get it as a `ChangeEvent` with `op: LOADED` and the count: "re-query".
Per-row history starts after it. `sync_state.loading` marks a load under way, so a sync
killed half-way resumes it the same way (its first batches' rows are then in the store).
`rantai sync --history-on-load` (`SyncEngine(history_on_load=True)`) keeps one CREATED
change per row.
"""

from __future__ import annotations

from hub.db import PgConnection
from hub.events import changelog
from hub.sync import state
from hub.sync.bindings import Binding
from hub.sync.types import TYPES
from hub.sync.writer import Writer


async def loading(
    conn: PgConnection,
    binding: Binding,
    source_id: str,
    stream: str,
    saved: state.StreamState | None,
) -> bool:
    """Whether this read of `stream` is (or resumes) a baseline load: its first, into a
    store that has no rows of its table from this source. Marks it in sync_state."""
    if saved is not None:
        return saved.loading
    held = await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {binding.table} WHERE source_id = $1)", source_id
    )
    if held:
        return False
    await state.start_loading(conn, source_id, stream)
    return True


async def loaded(writer: Writer, binding: Binding, stream: str) -> bool:
    """The end of a baseline load: one LOADED event per Pemda and fiscal year of the
    source's rows of the table; whether there was any."""
    columns = TYPES[binding.table]
    region = "r.code" if "region_id" in columns else "NULL::text"
    join = " LEFT JOIN region r ON r.id = x.region_id" if "region_id" in columns else ""
    year = "x.fiscal_year" if "fiscal_year" in columns else "NULL::int4"
    conn, source_id = writer.conn, writer.source_id
    async with writer.transaction():
        groups = await conn.fetch(
            f"SELECT {region} AS r, {year} AS y, count(*) AS c FROM {binding.table} x"
            f"{join} WHERE x.source_id = $1 GROUP BY 1, 2 ORDER BY 1, 2",
            source_id,
        )
        await changelog.record_loaded(
            conn,
            binding,
            [(g["r"], g["y"], g["c"]) for g in groups],
            source_id=source_id,
            staged=True,
        )
        writer.staged = writer.staged or bool(groups)
        assert source_id is not None
        await state.loaded(conn, source_id, stream)
    return bool(groups)

"""Link resolution after a sync (see hub/sync/links.py for the links)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from hub.db import PgConnection
from hub.events.changelog import Change, record
from hub.sync.bindings import BY_ENTITY
from hub.sync.links import LINKS, NULLS_IN_REGIONS, STATEMENTS, LinkColumn, apply_link
from hub.sync.writer import WRITE_LOCK

ANALYZE_AFTER = 1000  # links moved in one table


def _analyze_after(link: LinkColumn) -> bool:
    """Whether a link that moved many rows is followed by ANALYZE of its table: when a later
    link reads the table, or it is the table's last link (once per table, not per link)."""
    later = LINKS[LINKS.index(link) + 1 :]
    return any(re.search(rf"\b{link.table}\b", x.value) for x in later) or all(
        x.table != link.table for x in later
    )


async def resolve_links(conn: PgConnection, *, force: bool = False) -> int:
    """Re-resolve the links that can have moved (`force`: every link of every row); returns
    links moved. The links that can have moved:
    those still null whose kind of parent was inserted since (noted by triggers in
    `link_parent_noted`; in the parents' Pemda where the link is found by region), and the
    derived links of the Pemda where rows of their inputs were written since
    (`link_scope_noted`, see `LinkColumn.scope` and `inputs`). Migrations 0017 and 0020
    say why.

    One transaction, exclusive against sync batches (which take WRITE_LOCK shared). A note
    committed by another writer after it was read stays for the next run.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
        # Taken only when there are notes: an idle sync writes nothing to the store.
        noted: Any = await conn.fetchrow(
            "SELECT EXISTS (SELECT FROM link_scope_noted) AS regions, "
            "EXISTS (SELECT FROM link_parent_noted) AS parents"
        )
        # table written (None: any) → the Pemda it was written in
        written: dict[str | None, set[int]] = defaultdict(set)
        if noted["regions"]:
            for region, table in await conn.fetch(
                "WITH noted AS (DELETE FROM link_scope_noted RETURNING region_id, table_name) "
                "SELECT DISTINCT region_id, table_name FROM noted"
            ):
                written[table].add(region)
        # parent → the Pemda of the parents inserted (None: every row can have found one)
        parents: dict[str, set[int] | None] = {}
        if noted["parents"]:
            for parent, region in await conn.fetch(
                "WITH noted AS (DELETE FROM link_parent_noted RETURNING parent, region_id) "
                "SELECT DISTINCT parent, region_id FROM noted"
            ):
                known = parents.setdefault(parent, set())
                if region is None:
                    parents[parent] = None
                elif known is not None:
                    known.add(region)
        if not written and not parents and not force:
            return 0
        await conn.execute("SET LOCAL rantai.link_scope_resolving = on")
        moved: dict[str, dict[int, dict[str, tuple[Any, Any, str | None, str]]]] = defaultdict(dict)
        # Tables with many links moved, not analysed since: the columns that moved.
        stale: dict[str, list[str]] = defaultdict(list)
        for link, whole, update, nulls in STATEMENTS:
            # After a sync only null links can move, when a parent of their kind was
            # inserted, besides the derived ones of the Pemda noted (LinkColumn.scope);
            # `force` re-checks every row of every table.
            if force:
                found = await apply_link(conn, whole, update)
            elif link.derived:
                regions = sorted(set().union(*(written[t] for t in (None, *link.inputs))))
                found = await apply_link(conn, nulls, update, regions) if regions else []
                if found:  # a later derived link can read this one (LINKS' order)
                    written[link.table].update(regions)
            elif link.parent not in parents:
                found = []
            elif link.by_region and (pemda := parents[link.parent]) is not None:
                found = await apply_link(conn, NULLS_IN_REGIONS[link], update, sorted(pemda))
            else:
                found = await apply_link(conn, nulls, update)
            if len(found) >= ANALYZE_AFTER:
                stale[link.table].append(link.column)
            if link.table in stale and _analyze_after(link):
                # Later links read this column (a contract's sub kegiatan reads its packages'):
                # statistics taken while it was still empty make their plans quadratic. Only
                # the moved columns: the rest did not change since the sync's own ANALYZE.
                await conn.execute(f"ANALYZE {link.table} ({', '.join(stale.pop(link.table))})")
            for row in found:
                moved[link.table].setdefault(row["id"], {})[link.column] = (
                    row["old"],
                    row["new"],
                    row["source_id"],
                    row["key"],
                )
        total = 0
        for table, rows in moved.items():
            binding = BY_ENTITY[table]
            by_source: dict[str | None, list[Change]] = defaultdict(list)
            for entity_id, columns in rows.items():
                _, _, source, key = next(iter(columns.values()))
                by_source[source].append(
                    Change(
                        entity_id,
                        key,
                        "UPDATED",
                        {c: v[0] for c, v in columns.items()},
                        {c: v[1] for c, v in columns.items()},
                    )
                )
                total += len(columns)
            for source, changes in by_source.items():
                await record(conn, binding, changes, source_id=source)
        return total

"""Link resolution: turn the codes rows carry into ids, whenever the parent exists.

Rows keep what their source said (a DPA line's sub kegiatan code, a tender's kd_rup); the
id columns beside those codes are computed here, set-based, so a link resolves whichever
source arrives first and un-resolves when its parent goes (after a sync, over the rows whose
link is still null and, for derived links, the rows of the Pemda written; see
`LinkColumn.scope`). Derived
values live here too: a RUP package's sub kegiatan (its lowest `mak` whose sub kegiatan
exists), a contract's (that of its tender's lowest kd_rup, in numeric order, that has one),
a tender's winner (the vendor of its winning bid), a contract's current value (its highest
addendum, else the signed value). Every id that moves is recorded as an UPDATED change.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from hub.db import PgConnection
from hub.sync.bindings import BY_ENTITY
from hub.sync.types import TYPES


@dataclass(frozen=True)
class LinkColumn:
    """An id column beside a row's codes, and the SQL that computes it from them."""

    table: str
    column: str
    value: str  # SQL over the row `x`
    # Empty: the value is one parent found by its natural key from the row's own codes.
    # Such a link, once set, stays right: the writer re-resolves a row it rewrites, a
    # parent's natural key never changes (rows are upserted by it), and deleting the parent
    # sets the link to null (ON DELETE SET NULL). So after a sync only the rows whose link
    # is null can move. Else the link is derived from other rows (a lowest mak, a winning
    # bid, the latest addendum) or from a parent's other columns, and any row can move:
    # `scope` is the condition over `x` choosing the rows whose inputs include a row of
    # the Pemda `$1` (region ids), old or new. Writes to the inputs note their Pemda
    # (migration 0017, `link_scope_noted`); the link resolution re-checks those rows only.
    scope: str = ""
    # A derived link's inputs: the tables whose writes can move it (the row's own and those
    # its value reads). The writes note their table with their Pemda (migration 0020), and
    # the link is re-checked in the Pemda its inputs' writes noted only.
    inputs: tuple[str, ...] = ()

    @property
    def derived(self) -> bool:
        return bool(self.scope)

    @property
    def by_region(self) -> bool:
        """Whether a link that is not derived finds its parent within the row's own Pemda."""
        return not self.derived and "region_id = x.region_id" in self.value

    @property
    def parent(self) -> str | None:
        """The table a link that is not derived points to (the one its value reads)."""
        if self.derived:
            return None
        tables: list[str] = re.findall(r"(?:FROM|JOIN)\s+(\w+)\s+\w+\s", self.value)
        return tables[-1]


def _by_sub_activity(table: str) -> LinkColumn:
    return LinkColumn(
        table,
        "sub_activity_id",
        """(SELECT s.id FROM sub_activity s WHERE s.region_id = x.region_id
            AND s.fiscal_year = x.fiscal_year AND s.code = x.sub_activity_code)""",
    )


_TENDER = "(SELECT t.id FROM tender t WHERE t.code = x.tender_code)"
IN_REGIONS = "x.region_id = ANY($1::int8[])"  # a derived link whose inputs share its Pemda
_PACKAGE = "(SELECT p.id FROM procurement_package p WHERE p.rup_code = x.rup_code)"
_CONTRACT = """(SELECT c.id FROM contract c
    WHERE c.region_id = x.region_id AND c.number = x.contract_number)"""

# In dependency order: a package's sub kegiatan before the contracts that use it.
LINKS: tuple[LinkColumn, ...] = (
    LinkColumn("region", "parent_id", "(SELECT p.id FROM region p WHERE p.code = x.parent_code)"),
    _by_sub_activity("indicator"),
    _by_sub_activity("budget_line"),
    _by_sub_activity("progress_report"),
    _by_sub_activity("payment"),
    LinkColumn(
        "procurement_package",
        "opd_id",
        "(SELECT o.id FROM opd o WHERE o.region_id = x.region_id AND o.code = x.opd_code)",
    ),
    LinkColumn("package_budget_row", "package_id", _PACKAGE),
    LinkColumn(
        "package_budget_row",
        "budget_line_id",
        """(SELECT b.id FROM procurement_package p JOIN budget_line b
            ON b.region_id = p.region_id AND b.fiscal_year = p.fiscal_year
            AND b.sub_activity_code = x.sub_activity_code AND b.account_code = x.account_code
            WHERE p.rup_code = x.rup_code)""",
        # Its package's Pemda, or (the package gone) that of the DPA line it points to.
        scope="""x.id IN (SELECT r.id FROM procurement_package p
            JOIN package_budget_row r ON r.rup_code = p.rup_code
            WHERE p.region_id = ANY($1::int8[])
            UNION SELECT r.id FROM budget_line b
            JOIN package_budget_row r ON r.budget_line_id = b.id
            WHERE b.region_id = ANY($1::int8[]))""",
        inputs=("package_budget_row", "procurement_package", "budget_line"),
    ),
    LinkColumn(
        "procurement_package",
        "sub_activity_id",
        """(SELECT s.id FROM package_budget_row r JOIN sub_activity s
            ON s.region_id = x.region_id AND s.fiscal_year = x.fiscal_year
            AND s.code = r.sub_activity_code
            WHERE r.rup_code = x.rup_code ORDER BY r.mak LIMIT 1)""",
        scope=IN_REGIONS,
        inputs=("procurement_package", "package_budget_row", "sub_activity"),
    ),
    LinkColumn("tender_package", "tender_id", _TENDER),
    LinkColumn("tender_package", "package_id", _PACKAGE),
    LinkColumn("bid", "tender_id", _TENDER),
    LinkColumn(
        "tender",
        "winner_vendor_id",
        """(SELECT b.vendor_id FROM bid b WHERE b.tender_code = x.code AND b.is_winner
            ORDER BY b.vendor_id LIMIT 1)""",
        scope=IN_REGIONS,
        inputs=("tender", "bid"),
    ),
    LinkColumn("contract", "tender_id", _TENDER),
    LinkColumn(
        "contract",
        "sub_activity_id",
        """(SELECT p.sub_activity_id FROM tender_package tp
            JOIN procurement_package p ON p.rup_code = tp.rup_code
            WHERE tp.tender_code = x.tender_code AND p.sub_activity_id IS NOT NULL
            ORDER BY length(p.rup_code), p.rup_code LIMIT 1)""",
        # Its own Pemda, its tender's, its tender's packages', its sub kegiatan's.
        scope="""x.id IN (SELECT c.id FROM contract c WHERE c.region_id = ANY($1::int8[])
            UNION SELECT c.id FROM contract c WHERE c.tender_code IN (
                SELECT t.code FROM tender t WHERE t.region_id = ANY($1::int8[])
                UNION SELECT tp.tender_code FROM procurement_package p
                JOIN tender_package tp ON tp.rup_code = p.rup_code
                WHERE p.region_id = ANY($1::int8[]))
            UNION SELECT c.id FROM sub_activity s JOIN contract c ON c.sub_activity_id = s.id
            WHERE s.region_id = ANY($1::int8[]))""",
        inputs=("contract", "tender", "tender_package", "procurement_package", "sub_activity"),
    ),
    LinkColumn("contract_amendment", "contract_id", _CONTRACT),
    LinkColumn(
        "contract",
        "value",
        """COALESCE((SELECT a.value FROM contract_amendment a
            WHERE a.region_id = x.region_id AND a.contract_number = x.number
            ORDER BY a.version DESC LIMIT 1), x.original_value, x.value)""",
        scope=IN_REGIONS,
        inputs=("contract", "contract_amendment"),
    ),
    LinkColumn("letter", "contract_id", _CONTRACT),
    LinkColumn("letter", "tender_id", _TENDER),
    LinkColumn("payment", "contract_id", _CONTRACT),
    LinkColumn(
        "payment",
        "payee_vendor_id",
        # The key computed once per payment (in a filter it was once per vendor row).
        """(SELECT v.id FROM (SELECT regexp_replace(x.payee_tax_id, '[^0-9]', '', 'g') AS k
            OFFSET 0) p JOIN vendor v ON v.vendor_key = p.k)""",
    ),
)


def _find(link: LinkColumn, restricted: bool, pending: bool = False, pemda: bool = False) -> str:
    """The rows whose link is not what it should be: id, old, new, source, natural key.

    One pass over the table (or the given ids) with index lookups per row; the update
    then goes by primary key. A self-join UPDATE … FROM (SELECT … FROM same table) can be
    planned as a nested loop over freshly loaded tables without statistics: quadratic.
    `OFFSET 0` keeps the value a subquery of its own, computed once per row (pulled up,
    it was computed twice: in the comparison and in the output). Rows come in id order,
    so the changes are recorded in the same order whatever the table's physical layout.
    `pending`: only the rows that can have moved: a link still null, or a derived link's
    rows in its scope of the Pemda `$1` (see `LinkColumn.scope`); `pemda`: of those, the
    rows of the Pemda `$1`.
    """
    key = BY_ENTITY[link.table].key_sql("x")
    where = " AND x.id = ANY($1::int8[])" if restricted else ""
    if pending:
        where += f" AND ({link.scope})" if link.derived else f" AND x.{link.column} IS NULL"
    if pemda:  # a null link whose parent is found within the row's Pemda: those of `$1`
        where += " AND x.region_id = ANY($1::int8[])"
    return f"""
        SELECT x.id, x.{link.column} AS old, v.new, x.source_id, {key} AS key
        FROM {link.table} x CROSS JOIN LATERAL (SELECT {link.value} AS new OFFSET 0) v
        WHERE x.{link.column} IS DISTINCT FROM v.new{where} ORDER BY x.id"""


def _update(link: LinkColumn) -> str:
    pg = TYPES[link.table][link.column].pg
    return f"""
        UPDATE {link.table} t SET {link.column} = v.new
        FROM unnest($1::int8[], $2::{pg}[]) AS v(id, new) WHERE t.id = v.id"""


# (link, find over the whole table, update, find over the rows that can have moved: a
# derived link's takes the Pemda noted as $1)
STATEMENTS = [
    (link, _find(link, False), _update(link), _find(link, False, pending=True)) for link in LINKS
]
# The find over the null links of the Pemda `$1` only, of the links found by region.
NULLS_IN_REGIONS = {
    link: _find(link, False, pending=True, pemda=True) for link in LINKS if link.by_region
}
BY_TABLE: dict[str, list[tuple[LinkColumn, str, str]]] = defaultdict(list)
for _link in LINKS:
    BY_TABLE[_link.table].append((_link, _find(_link, True), _update(_link)))

# Derived links of other tables that the rows just written feed, re-resolved in the same
# batch: (link, condition over `x` choosing the rows the written ids ($1) can move).
# Without this a RUP package's sub kegiatan, computed from its budget rows, which are
# written after it, moved for every package in the one link resolution after all sources
# (31,600 moves at province scale, in the serial tail of a first sync); in the budget
# rows' own batches the moves are spread over the sync. Likewise a tender's winner, from
# its bids (5,500). The link resolution after the sync still checks every derived link of
# the Pemda written. A contract's sub kegiatan, from its packages', is left to it:
# re-resolved while the budget rows move the packages', before their table's statistics
# are taken again, its plan went quadratic.
_DEPENDENT_CONDITIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "package_budget_row": (
        (
            "procurement_package",
            "sub_activity_id",
            "x.rup_code IN (SELECT d.rup_code FROM package_budget_row d "
            "WHERE d.id = ANY($1::int8[]))",
        ),
    ),
    "bid": (
        (
            "tender",
            "winner_vendor_id",
            "x.code IN (SELECT d.tender_code FROM bid d WHERE d.id = ANY($1::int8[]))",
        ),
    ),
}


def _dependent(table: str, column: str, condition: str) -> tuple[LinkColumn, str, str]:
    link = next(x for x in LINKS if x.table == table and x.column == column)
    if not link.derived:
        raise RuntimeError(f"{table}.{column}: only a derived link moves when other rows change")
    # The rows may belong to another source, whose batch can be writing them: they are
    # locked in id order (as the writer's upserts lock theirs) before their old value is
    # read, so the recorded `before` is the value this update replaces.
    find = _find(link, False).replace(
        " ORDER BY x.id", f" AND {condition} ORDER BY x.id FOR UPDATE OF x"
    )
    return link, find, _update(link)


DEPENDENTS: dict[str, list[tuple[LinkColumn, str, str]]] = {
    written: [_dependent(*c) for c in conditions]
    for written, conditions in _DEPENDENT_CONDITIONS.items()
}

Moved = dict[int, dict[str, tuple[Any, Any]]]  # row id → column → (before, after)


async def apply_link(
    conn: PgConnection, find: str, update: str, *ids: Sequence[int]
) -> list[asyncpg.Record]:
    """Find the rows whose link moved and set it; returns them (id, old, new, …)."""
    rows = list(await conn.fetch(find, *(list(i) for i in ids)))
    if rows:
        await conn.execute(update, [r["id"] for r in rows], [r["new"] for r in rows])
    return rows


async def resolve_rows(conn: PgConnection, table: str, ids: Sequence[int]) -> Moved:
    """Resolve the links of just-written rows (inside the writer's transaction)."""
    moved: Moved = {}
    if not ids:
        return moved
    for link, find, update in BY_TABLE.get(table, ()):
        for row in await apply_link(conn, find, update, ids):
            moved.setdefault(row["id"], {})[link.column] = (row["old"], row["new"])
    return moved

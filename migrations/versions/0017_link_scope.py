"""the Pemda whose derived links can have moved, noted by the writes themselves

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 16:00:00

The link resolution after a sync re-checked every derived link of the store (a RUP
package's sub kegiatan, a tender's winner, a contract's sub kegiatan and current value, a
budget row's DPA line) whatever the sync wrote: at NTT scale about 5 s under the lock sync
batches wait for, after every sync that wrote one row. Derived links only move when rows
of their inputs are written, and every input row belongs to a Pemda; so statement
triggers on those inputs note the Pemda (region ids) a statement touched, old and new rows,
in `link_scope_noted`, a plain insert that never waits for another writer (the pattern of
`sub_activity_rollup_dirty`). The link resolution takes the noted ids and re-checks only
the derived links those Pemda can move (`LinkColumn.scope` in hub/sync/links.py).

A row without a region of its own is noted by its parent's: a budget row by its RUP
package's, a bid by its tender's, a tender's package by both. TRUNCATE notes every Pemda.
The link resolution's own writes (`SET LOCAL rantai.link_scope_resolving = on`) note
nothing: the links they move are checked after them in the same pass (LINKS' order).
With the notes deciding what the pass checks, `source.linked_seq` (which sources wrote
since the last pass) has no use left and goes.

Likewise for the links that are not derived (one parent by its natural key): the pass
over the rows whose link is still null ran after every sync that wrote (a payment's
contract and payee: 0.3 s at NTT scale), though such a row can only find its parent when
one is inserted (the writer resolves the rows it writes, and a parent's natural key never
changes). A statement trigger on each parent table notes its name in `link_parent_noted`
on INSERT, with the Pemda of the rows inserted where the parent has one; the pass runs for
the links to the parents noted, and a link whose parent is found within the row's own
Pemda (a payment's contract: 970,000 payments without one at NTT scale) only over the rows
of the Pemda noted.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → the region ids of the transition table `r` (the rows a statement wrote or removed)
NOTED = {
    "sub_activity": "SELECT r.region_id FROM {rows} r",
    "budget_line": "SELECT r.region_id FROM {rows} r",
    "procurement_package": "SELECT r.region_id FROM {rows} r",
    "package_budget_row": (
        "SELECT p.region_id FROM {rows} r JOIN procurement_package p ON p.rup_code = r.rup_code"
    ),
    "tender": "SELECT r.region_id FROM {rows} r",
    "tender_package": (
        "SELECT t.region_id FROM {rows} r JOIN tender t ON t.code = r.tender_code "
        "UNION SELECT p.region_id FROM {rows} r JOIN procurement_package p "
        "ON p.rup_code = r.rup_code"
    ),
    "bid": "SELECT t.region_id FROM {rows} r JOIN tender t ON t.code = r.tender_code",
    "contract": "SELECT r.region_id FROM {rows} r",
    "contract_amendment": "SELECT r.region_id FROM {rows} r",
}


# The parents of the links that are not derived: a row whose link is null can only find
# its parent when one is inserted (a parent's natural key never changes). Those with a
# Pemda note it: a link found within the row's own Pemda is checked there only.
PARENTS = {
    "region": False, "sub_activity": True, "opd": True, "procurement_package": True,
    "tender": True, "contract": True, "vendor": False,
}  # fmt: skip


def upgrade() -> None:
    op.execute("CREATE TABLE link_scope_noted (region_id bigint NOT NULL)")
    # region_id null: every row of the parent's kind can have found it.
    op.execute("CREATE TABLE link_parent_noted (parent text NOT NULL, region_id bigint)")
    op.execute(
        """
        CREATE FUNCTION link_parent_note() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('rantai.link_scope_resolving', true) = 'on' THEN
                RETURN NULL;
            END IF;
            IF TG_ARGV[0] = 'pemda' THEN
                INSERT INTO link_parent_noted SELECT DISTINCT TG_TABLE_NAME, region_id
                FROM new_rows;
            ELSE
                INSERT INTO link_parent_noted VALUES (TG_TABLE_NAME, NULL);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for table, pemda in PARENTS.items():
        op.execute(
            f"CREATE TRIGGER link_parent_insert AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION link_parent_note('{'pemda' if pemda else ''}')"
        )
    op.execute(
        """
        CREATE FUNCTION link_scope_note() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- The link resolution's own moves: checked in the same pass, in order.
            IF current_setting('rantai.link_scope_resolving', true) = 'on' THEN
                RETURN NULL;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                EXECUTE 'INSERT INTO link_scope_noted SELECT DISTINCT region_id FROM ('
                    || replace(TG_ARGV[0], '{rows}', 'new_rows') || ') n';
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                EXECUTE 'INSERT INTO link_scope_noted SELECT DISTINCT region_id FROM ('
                    || replace(TG_ARGV[0], '{rows}', 'old_rows') || ') n';
            END IF;
            IF TG_OP = 'TRUNCATE' THEN
                INSERT INTO link_scope_noted SELECT id FROM region;
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for table, noted in NOTED.items():
        argument = noted.replace("'", "''")
        for event, referencing in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            op.execute(
                f"CREATE TRIGGER link_scope_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION link_scope_note('{argument}')"
            )
        op.execute(
            f"CREATE TRIGGER link_scope_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION link_scope_note('')"
        )
    # What decided whether link resolution ran at all, now the notes' to decide.
    op.drop_column("source", "linked_seq")
    # A store upgraded with links never checked under this scheme: every Pemda once.
    op.execute("INSERT INTO link_scope_noted SELECT id FROM region")
    op.execute(
        "INSERT INTO link_parent_noted VALUES " + ", ".join(f"('{t}', NULL)" for t in PARENTS)
    )


def downgrade() -> None:
    op.add_column(
        "source", sa.Column("linked_seq", sa.BigInteger(), server_default="0", nullable=False)
    )
    for table in NOTED:
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER link_scope_{event} ON {table}")
    op.execute("DROP FUNCTION link_scope_note()")
    op.execute("DROP TABLE link_scope_noted")
    for table in PARENTS:
        op.execute(f"DROP TRIGGER link_parent_insert ON {table}")
    op.execute("DROP FUNCTION link_parent_note()")
    op.execute("DROP TABLE link_parent_noted")

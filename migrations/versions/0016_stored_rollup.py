"""the chain's rollup per sub kegiatan, stored and kept up to date

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 14:00:00

`sub_activity_rollup` was a view: every read summed each sub kegiatan's DPA lines, SP2D,
RUP packages and contracts and found its latest e-Monev report, five lookups per sub
kegiatan. A province's summary at NTT scale reads 80,000 of them, and the dashboard's
province page asked for them three times over: 7.6 s. It is now a table holding the
view's rows, which stays as `sub_activity_rollup_live` (the definition, and what the table
is checked against):

- statement triggers on `sub_activity`, `budget_line`, `payment`, `procurement_package`,
  `contract` and `progress_report` note the sub kegiatan a statement touched (old and new
  ids, from its transition tables; every one on TRUNCATE) in `sub_activity_rollup_dirty`,
  a plain insert that never waits for another writer;
- `refresh_sub_activity_rollup()` takes the noted ids and writes their rows again from the
  view, one refresh at a time (an advisory lock), in one statement whose snapshot is taken
  after the lock: an id noted by a transaction that commits later stays noted for the next
  refresh. The sync calls it at the end of every run (hub/sync/rollup.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFRESH_LOCK = 7_242_016  # pg_advisory_xact_lock key of the refresh (hub/sync/rollup.py)
TABLES = {  # table → the column naming its sub kegiatan
    "sub_activity": "id",
    "budget_line": "sub_activity_id",
    "payment": "sub_activity_id",
    "procurement_package": "sub_activity_id",
    "contract": "sub_activity_id",
    "progress_report": "sub_activity_id",
}
COLUMNS = (
    "region_id", "opd_id", "fiscal_year", "planned_amount", "allocated", "paid",
    "procurement_ceiling", "contracted", "physical_percent", "stage",
)  # fmt: skip


def upgrade() -> None:
    op.execute("ALTER VIEW sub_activity_rollup RENAME TO sub_activity_rollup_live")
    op.execute(
        """
        CREATE TABLE sub_activity_rollup (
            sub_activity_id bigint PRIMARY KEY,
            region_id bigint,
            opd_id bigint,
            fiscal_year integer,
            planned_amount numeric(20, 2),
            allocated numeric(20, 2),
            paid numeric(20, 2),
            procurement_ceiling numeric(20, 2),
            contracted numeric(20, 2),
            physical_percent numeric(7, 2),
            stage varchar
        )
        """
    )
    op.execute("CREATE INDEX ix_rollup_region_year ON sub_activity_rollup (region_id, fiscal_year)")
    op.execute("CREATE INDEX ix_rollup_opd_year ON sub_activity_rollup (opd_id, fiscal_year)")
    op.execute("CREATE TABLE sub_activity_rollup_dirty (sub_activity_id bigint NOT NULL)")
    op.execute(
        """
        CREATE FUNCTION sub_activity_rollup_note() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            col text := TG_ARGV[0];
        BEGIN
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                EXECUTE format('INSERT INTO sub_activity_rollup_dirty '
                    'SELECT DISTINCT %1$I FROM new_rows WHERE %1$I IS NOT NULL', col);
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                EXECUTE format('INSERT INTO sub_activity_rollup_dirty '
                    'SELECT DISTINCT %1$I FROM old_rows WHERE %1$I IS NOT NULL', col);
            END IF;
            IF TG_OP = 'TRUNCATE' THEN
                INSERT INTO sub_activity_rollup_dirty SELECT sub_activity_id FROM sub_activity_rollup;
                INSERT INTO sub_activity_rollup_dirty SELECT id FROM sub_activity;
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for table, column in TABLES.items():
        for event, referencing in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            op.execute(
                f"CREATE TRIGGER rollup_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION sub_activity_rollup_note('{column}')"
            )
        op.execute(
            f"CREATE TRIGGER rollup_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION sub_activity_rollup_note('{column}')"
        )
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS)
    op.execute(
        f"""
        CREATE FUNCTION refresh_sub_activity_rollup() RETURNS integer LANGUAGE plpgsql AS $$
        DECLARE
            written integer;
        BEGIN
            PERFORM pg_advisory_xact_lock({REFRESH_LOCK});
            WITH noted AS (DELETE FROM sub_activity_rollup_dirty RETURNING sub_activity_id),
            ids AS (SELECT DISTINCT sub_activity_id AS id FROM noted),
            gone AS (
                DELETE FROM sub_activity_rollup t USING ids
                WHERE t.sub_activity_id = ids.id
                AND NOT EXISTS (SELECT 1 FROM sub_activity s WHERE s.id = ids.id)
            )
            INSERT INTO sub_activity_rollup
            SELECT v.sub_activity_id, {", ".join("v." + c for c in COLUMNS)}
            FROM sub_activity_rollup_live v JOIN ids ON v.sub_activity_id = ids.id
            ON CONFLICT (sub_activity_id) DO UPDATE SET {updates};
            GET DIAGNOSTICS written = ROW_COUNT;
            RETURN written;
        END $$
        """
    )
    op.execute("INSERT INTO sub_activity_rollup_dirty SELECT id FROM sub_activity")
    op.execute("SELECT refresh_sub_activity_rollup()")


def downgrade() -> None:
    op.execute("DROP FUNCTION refresh_sub_activity_rollup()")
    for table in TABLES:
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER rollup_{event} ON {table}")
    op.execute("DROP FUNCTION sub_activity_rollup_note()")
    op.execute("DROP TABLE sub_activity_rollup_dirty")
    op.execute("DROP TABLE sub_activity_rollup")
    op.execute("ALTER VIEW sub_activity_rollup_live RENAME TO sub_activity_rollup")

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
  view, one refresh at a time (an advisory lock; each statement's snapshot is taken after
  it): an id noted by a transaction that commits later stays noted for the next refresh.
  It then writes again the totals of every Pemda-year and OPD-year those rows belonged to,
  before or after (`sub_activity_totals`: the sums a summary adds up, so a province's
  summary adds 23 rows, not 80,000). The sync calls it at the end of every run
  (hub/sync/rollup.py).
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
MONEY_COLUMNS = ("planned_amount", "allocated", "paid", "procurement_ceiling", "contracted")
TOTALS = ("sub_activities", *MONEY_COLUMNS, "progress_weighted", "progress_allocated")
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
        CREATE TABLE sub_activity_totals (
            level varchar(6) NOT NULL,
            owner_id bigint NOT NULL,
            fiscal_year integer NOT NULL,
            sub_activities bigint NOT NULL,
            planned_amount numeric(20, 2) NOT NULL,
            allocated numeric(20, 2) NOT NULL,
            paid numeric(20, 2) NOT NULL,
            procurement_ceiling numeric(20, 2) NOT NULL,
            contracted numeric(20, 2) NOT NULL,
            progress_weighted numeric NOT NULL,
            progress_allocated numeric(20, 2) NOT NULL,
            PRIMARY KEY (level, owner_id, fiscal_year)
        )
        """
    )
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
    sums = ", ".join(f"coalesce(sum(r.{c}), 0)" for c in MONEY_COLUMNS)
    sum_updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in TOTALS)
    totals = []
    for level, column in (("region", "region_id"), ("opd", "opd_id")):
        before = "rb" if level == "region" else "ob"
        totals.append(
            f"""
            INSERT INTO sub_activity_totals (level, owner_id, fiscal_year, {", ".join(TOTALS)})
            SELECT '{level}', p.owner_id, p.fiscal_year, count(r.sub_activity_id), {sums},
                   coalesce(sum(r.physical_percent * r.allocated), 0),
                   coalesce(sum(r.allocated) FILTER (WHERE r.physical_percent IS NOT NULL), 0)
            FROM (
                SELECT b.owner_id, b.fiscal_year FROM unnest({before}, yb) AS b(owner_id, fiscal_year)
                UNION
                SELECT {column}, fiscal_year FROM sub_activity_rollup
                WHERE sub_activity_id = ANY(ids)
            ) p
            LEFT JOIN sub_activity_rollup r
                ON r.{column} = p.owner_id AND r.fiscal_year = p.fiscal_year
            WHERE p.owner_id IS NOT NULL
            GROUP BY p.owner_id, p.fiscal_year
            ON CONFLICT (level, owner_id, fiscal_year) DO UPDATE SET {sum_updates};"""
        )
    op.execute(
        f"""
        CREATE FUNCTION refresh_sub_activity_rollup() RETURNS integer LANGUAGE plpgsql AS $$
        DECLARE
            ids bigint[];
            rb bigint[];
            ob bigint[];
            yb integer[];
            written integer;
        BEGIN
            -- Nothing noted: nothing written, not even an empty DELETE (an idle sync
            -- writes nothing to the store).
            IF NOT EXISTS (SELECT 1 FROM sub_activity_rollup_dirty) THEN
                RETURN 0;
            END IF;
            PERFORM pg_advisory_xact_lock({REFRESH_LOCK});
            WITH noted AS (DELETE FROM sub_activity_rollup_dirty RETURNING sub_activity_id)
            SELECT array_agg(DISTINCT sub_activity_id) INTO ids FROM noted;
            IF ids IS NULL THEN
                RETURN 0;
            END IF;
            SELECT array_agg(region_id), array_agg(opd_id), array_agg(fiscal_year)
            INTO rb, ob, yb FROM sub_activity_rollup WHERE sub_activity_id = ANY(ids);
            DELETE FROM sub_activity_rollup t WHERE t.sub_activity_id = ANY(ids)
            AND NOT EXISTS (SELECT 1 FROM sub_activity s WHERE s.id = t.sub_activity_id);
            INSERT INTO sub_activity_rollup
            SELECT v.sub_activity_id, {", ".join("v." + c for c in COLUMNS)}
            FROM sub_activity_rollup_live v WHERE v.sub_activity_id = ANY(ids)
            ON CONFLICT (sub_activity_id) DO UPDATE SET {updates};
            GET DIAGNOSTICS written = ROW_COUNT;
            {"".join(totals)}
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
    op.execute("DROP TABLE sub_activity_totals")
    op.execute("DROP TABLE sub_activity_rollup_dirty")
    op.execute("DROP TABLE sub_activity_rollup")
    op.execute("ALTER VIEW sub_activity_rollup_live RENAME TO sub_activity_rollup")

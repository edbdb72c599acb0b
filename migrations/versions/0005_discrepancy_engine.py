"""discrepancy engine: its position in the change feed, and the scopes its rules share

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 14:00:00

- `discrepancy_state`: the outbox position up to which changes have been checked, so that
  after each sync the rules run only on the Pemda and years that changed.
- `tender_scope`: the Pemda, fiscal year, OPD and sub kegiatan a tender belongs to (its
  first RUP package by kd_rup, as change routing does; else the year it was announced).
- `latest_progress`: per sub kegiatan, its report of the highest quarter.
- `rantai_rp(numeric)`: Rupiah as an Indonesian reads it, "Rp 1.250.000".
- `package_version` (SiRUP's versions of a package) and `tender_schedule` (SPSE stages),
  two synced entities the rules PUBLISHED_VALUE_CHANGED and SHORT_BID_WINDOW read.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _synced(name: str, *columns: sa.Column[object], unique: tuple[str, str]) -> None:
    op.create_table(
        name,
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f(f"fk_{name}_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint(*unique, name=op.f(f"uq_{name}_{unique[0]}_{unique[1]}")),
    )
    op.create_index(op.f(f"ix_{name}_source_id"), name, ["source_id"], unique=False)
    op.create_index(op.f(f"ix_{name}_{unique[0]}"), name, [unique[0]], unique=False)


def upgrade() -> None:
    _synced(
        "package_version",
        sa.Column("rup_code", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ceiling", sa.Numeric(20, 2), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("version_date", sa.Date(), nullable=True),
        unique=("rup_code", "version"),
    )
    _synced(
        "tender_schedule",
        sa.Column("tender_code", sa.String(length=24), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        unique=("tender_code", "stage"),
    )
    op.create_table(
        "discrepancy_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("full_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discrepancy_state")),
    )
    op.execute("INSERT INTO discrepancy_state (id, position) VALUES (1, 0)")
    op.execute(
        """
        CREATE VIEW tender_scope AS
        SELECT t.id AS tender_id, t.code, t.region_id,
               COALESCE(fp.fiscal_year, extract(year FROM t.announced_on)::int) AS fiscal_year,
               fp.opd_id, fp.sub_activity_id
        FROM tender t
        LEFT JOIN LATERAL (
            SELECT p.fiscal_year, p.opd_id, p.sub_activity_id FROM tender_package tp
            JOIN procurement_package p ON p.rup_code = tp.rup_code
            WHERE tp.tender_code = t.code ORDER BY length(p.rup_code), p.rup_code LIMIT 1
        ) fp ON true
        """
    )
    op.execute(
        """
        CREATE VIEW latest_progress AS
        SELECT DISTINCT ON (region_id, fiscal_year, sub_activity_code)
               id, region_id, fiscal_year, sub_activity_code, sub_activity_id, period,
               substring(period FROM 'Q([1-4])$')::int AS quarter, physical_percent
        FROM progress_report
        WHERE period ~ 'Q[1-4]$'
        ORDER BY region_id, fiscal_year, sub_activity_code, period DESC
        """
    )
    op.execute(
        """
        CREATE FUNCTION rantai_rp(numeric) RETURNS text LANGUAGE sql IMMUTABLE AS $$
            SELECT 'Rp ' || replace(to_char(round($1), 'FM999,999,999,999,999,990'), ',', '.')
        $$
        """
    )


def downgrade() -> None:
    op.drop_table("tender_schedule")
    op.drop_table("package_version")
    op.execute("DROP FUNCTION rantai_rp(numeric)")
    op.execute("DROP VIEW latest_progress")
    op.execute("DROP VIEW tender_scope")
    op.drop_table("discrepancy_state")

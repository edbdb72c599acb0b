"""reference data: every Pemda of Indonesia and the planning nomenclature; honest source health

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00

- `reference_edition`, `reference_region`, `nomenclature`: the Kemendagri region codes
  (38 provinces, 514 regencies/cities) and the nomenclature of urusan, bidang urusan,
  program, kegiatan and sub kegiatan, each row tagged with its edition, loaded here from
  the files shipped in hub/reference/ (origin, edition and licence in its README.md).
- The `reference` source: the provenance of a Pemda the hub created from the reference
  data because a row named it (hub/sync/reference.py).
- `rantai_annex(code, level)` and `rantai_nomenclature_edition(fiscal_year, annex)`: which
  annex of the nomenclature a code belongs to, and which edition is in force for a year.
  The sync (official names) and CODE_NOT_IN_NOMENCLATURE read the nomenclature through them.
- `source.waiting_reasons`, `last_run_read`, `last_run_stored`: what `rantai sources` and
  `Source` show of the rows that wait, and whether the last run stored anything.
- `budget_line.opd_code`, `payment.opd_code`: the OPD a source names on a DPA line or SP2D,
  so that an OPD's summary counts its lines that have no sub kegiatan.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from hub import reference

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ANNEX = """
CREATE FUNCTION rantai_annex(code text, region_level text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN split_part(code, '.', 4) = '' THEN
            CASE WHEN region_level = 'PROVINCE' THEN 'provinsi' ELSE 'kabkota' END
        WHEN split_part(code, '.', 4) = '1' THEN 'provinsi'
        ELSE 'kabkota'
    END
$$
"""
# The edition in force for a fiscal year and annex: the latest to begin on or before it.
EDITION = """
CREATE FUNCTION rantai_nomenclature_edition(fiscal_year int, annex text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT id FROM reference_edition
    WHERE kind = 'nomenclature' AND first_fiscal_year <= fiscal_year AND annex = ANY(annexes)
    ORDER BY first_fiscal_year DESC, id DESC LIMIT 1
$$
"""


def upgrade() -> None:
    op.create_table(
        "reference_edition",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("first_fiscal_year", sa.Integer(), nullable=True),
        sa.Column("annexes", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("origin", sa.Text(), nullable=True),
        sa.Column("licence", sa.Text(), nullable=True),
        sa.Column(
            "counts", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_edition")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_reference_edition_kind_name")),
    )
    op.create_table(
        "reference_region",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("parent_code", sa.String(length=8), nullable=True),
        sa.Column("edition_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["reference_edition.id"],
            name=op.f("fk_reference_region_edition_id_reference_edition"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_reference_region")),
    )
    op.create_index(
        op.f("ix_reference_region_edition_id"), "reference_region", ["edition_id"], unique=False
    )
    op.create_table(
        "nomenclature",
        sa.Column("edition_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.String(length=24), nullable=True),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["reference_edition.id"],
            name=op.f("fk_nomenclature_edition_id_reference_edition"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("edition_id", "code", name=op.f("pk_nomenclature")),
    )
    op.add_column(
        "source",
        sa.Column(
            "waiting_reasons",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
    )
    op.add_column("source", sa.Column("last_run_read", sa.BigInteger(), nullable=True))
    op.add_column("source", sa.Column("last_run_stored", sa.BigInteger(), nullable=True))
    op.add_column("budget_line", sa.Column("opd_code", sa.String(length=40), nullable=True))
    op.add_column("payment", sa.Column("opd_code", sa.String(length=40), nullable=True))
    op.execute(ANNEX)
    op.execute(EDITION)
    _load_shipped()


def _load_shipped() -> None:
    bind = op.get_bind()
    regions = reference.read_regions()
    nomenclature = reference.read_nomenclature()
    levels = {
        level: sum(1 for r in regions if r.level == level) for level in reference.REGION_LEVELS
    }
    region_edition = bind.execute(
        sa.text(
            "INSERT INTO reference_edition (kind, name, origin, licence, counts) "
            "VALUES ('regions', :name, :origin, :licence, CAST(:counts AS jsonb)) RETURNING id"
        ),
        {
            "name": reference.SHIPPED_REGIONS_EDITION,
            "origin": reference.SHIPPED_REGIONS_ORIGIN,
            "licence": reference.SHIPPED_REGIONS_LICENCE,
            "counts": json.dumps(levels),
        },
    ).scalar_one()
    bind.execute(
        sa.text(
            "INSERT INTO reference_region (code, name, level, parent_code, edition_id) "
            "VALUES (:code, :name, :level, :parent_code, :edition_id)"
        ),
        [
            {
                "code": r.code,
                "name": r.name,
                "level": r.level,
                "parent_code": r.parent_code,
                "edition_id": region_edition,
            }
            for r in regions
        ],
    )
    edition = bind.execute(
        sa.text(
            "INSERT INTO reference_edition (kind, name, first_fiscal_year, annexes, origin, "
            "licence, counts) VALUES ('nomenclature', :name, :first, :annexes, :origin, "
            ":licence, CAST(:counts AS jsonb)) RETURNING id"
        ),
        {
            "name": reference.SHIPPED_NOMENCLATURE_EDITION,
            "first": reference.SHIPPED_NOMENCLATURE_FIRST_YEAR,
            "annexes": list(nomenclature.annexes),
            "origin": reference.SHIPPED_NOMENCLATURE_ORIGIN,
            "licence": reference.SHIPPED_NOMENCLATURE_LICENCE,
            "counts": json.dumps(
                {
                    "rows": nomenclature.counts,
                    "file": nomenclature.file_counts,
                    "expanded": nomenclature.expanded,
                }
            ),
        },
    ).scalar_one()
    bind.execute(
        sa.text(
            "INSERT INTO nomenclature (edition_id, code, level, name, parent_code) "
            "VALUES (:edition_id, :code, :level, :name, :parent_code)"
        ),
        [
            {
                "edition_id": edition,
                "code": e.code,
                "level": e.level,
                "name": e.name,
                "parent_code": e.parent_code,
            }
            for e in nomenclature.entries
        ],
    )
    bind.execute(
        sa.text(
            "INSERT INTO source (id, name, kind, status, rows, last_synced_at, last_success_at) "
            "VALUES ('reference', :name, 'reference', 'OK', 0, now(), now()) "
            "ON CONFLICT (id) DO NOTHING"
        ),
        {"name": "Data referensi Kemendagri (kode wilayah, nomenklatur)"},
    )


def downgrade() -> None:
    op.execute("DELETE FROM region WHERE source_id = 'reference'")
    op.execute("DELETE FROM source WHERE id = 'reference'")
    op.execute("DROP FUNCTION rantai_nomenclature_edition(int, text)")
    op.execute("DROP FUNCTION rantai_annex(text, text)")
    op.drop_column("payment", "opd_code")
    op.drop_column("budget_line", "opd_code")
    op.drop_column("source", "last_run_stored")
    op.drop_column("source", "last_run_read")
    op.drop_column("source", "waiting_reasons")
    op.drop_table("nomenclature")
    op.drop_index(op.f("ix_reference_region_edition_id"), table_name="reference_region")
    op.drop_table("reference_region")
    op.drop_table("reference_edition")

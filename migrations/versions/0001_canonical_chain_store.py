"""canonical chain store

Revision ID: 0001
Revises:
Create Date: 2026-11-28 01:16:38.692561

Every table of the chain, its natural unique keys and an index on every foreign key.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("owner_opd_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("rows", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("freshness_seconds", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source")),
    )
    op.create_index(op.f("ix_source_owner_opd_id"), "source", ["owner_opd_id"], unique=False)
    op.create_table(
        "region",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["region.id"],
            name=op.f("fk_region_parent_id_region"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_region_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region")),
        sa.UniqueConstraint("code", name=op.f("uq_region_code")),
    )
    op.create_index(op.f("ix_region_parent_id"), "region", ["parent_id"], unique=False)
    op.create_index(op.f("ix_region_source_id"), "region", ["source_id"], unique=False)
    op.create_table(
        "vendor",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("vendor_key", sa.String(length=120), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("tax_id", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_vendor_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor")),
        sa.UniqueConstraint("vendor_key", name=op.f("uq_vendor_vendor_key")),
    )
    op.create_index(op.f("ix_vendor_source_id"), "vendor", ["source_id"], unique=False)
    op.create_index(op.f("ix_vendor_tax_id"), "vendor", ["tax_id"], unique=False)
    op.create_table(
        "opd",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["region.id"], name=op.f("fk_opd_region_id_region"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_opd_source_id_source"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opd")),
        sa.UniqueConstraint("region_id", "code", name=op.f("uq_opd_region_id_code")),
    )
    op.create_index(op.f("ix_opd_code"), "opd", ["code"], unique=False)
    op.create_index(op.f("ix_opd_region_id"), "opd", ["region_id"], unique=False)
    op.create_index(op.f("ix_opd_source_id"), "opd", ["source_id"], unique=False)
    # source ↔ opd is a cycle (a source is owned by an OPD whose rows come from a source).
    op.create_foreign_key(
        op.f("fk_source_owner_opd_id_opd"),
        "source",
        "opd",
        ["owner_opd_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_table(
        "program",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_program_region_id_region"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_program_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_program")),
        sa.UniqueConstraint(
            "region_id", "fiscal_year", "code", name=op.f("uq_program_region_id_fiscal_year_code")
        ),
    )
    op.create_index(op.f("ix_program_region_id"), "program", ["region_id"], unique=False)
    op.create_index(op.f("ix_program_source_id"), "program", ["source_id"], unique=False)
    op.create_table(
        "tender",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("owner_estimate", sa.Numeric(precision=20, scale=2), nullable=True),
        sa.Column("ceiling", sa.Numeric(precision=20, scale=2), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("announced_on", sa.Date(), nullable=True),
        sa.Column("winner_vendor_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_tender_region_id_region"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_tender_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["winner_vendor_id"],
            ["vendor.id"],
            name=op.f("fk_tender_winner_vendor_id_vendor"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tender")),
        sa.UniqueConstraint("code", name=op.f("uq_tender_code")),
    )
    op.create_index(op.f("ix_tender_region_id"), "tender", ["region_id"], unique=False)
    op.create_index(op.f("ix_tender_source_id"), "tender", ["source_id"], unique=False)
    op.create_index(
        op.f("ix_tender_winner_vendor_id"), "tender", ["winner_vendor_id"], unique=False
    )
    op.create_table(
        "activity",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_activity_program_id_program"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_activity_region_id_region"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_activity_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
        sa.UniqueConstraint(
            "region_id", "fiscal_year", "code", name=op.f("uq_activity_region_id_fiscal_year_code")
        ),
    )
    op.create_index(op.f("ix_activity_program_id"), "activity", ["program_id"], unique=False)
    op.create_index(op.f("ix_activity_region_id"), "activity", ["region_id"], unique=False)
    op.create_index(op.f("ix_activity_source_id"), "activity", ["source_id"], unique=False)
    op.create_table(
        "bid",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tender_id", sa.BigInteger(), nullable=False),
        sa.Column("vendor_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=2), nullable=True),
        sa.Column("corrected_amount", sa.Numeric(precision=20, scale=2), nullable=True),
        sa.Column("is_winner", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_bid_source_id_source"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tender_id"], ["tender.id"], name=op.f("fk_bid_tender_id_tender"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendor.id"], name=op.f("fk_bid_vendor_id_vendor"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid")),
        sa.UniqueConstraint("tender_id", "vendor_id", name=op.f("uq_bid_tender_id_vendor_id")),
    )
    op.create_index(op.f("ix_bid_source_id"), "bid", ["source_id"], unique=False)
    op.create_index(op.f("ix_bid_tender_id"), "bid", ["tender_id"], unique=False)
    op.create_index(op.f("ix_bid_vendor_id"), "bid", ["vendor_id"], unique=False)
    op.create_table(
        "sub_activity",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("opd_id", sa.BigInteger(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("planned_amount", sa.Numeric(precision=20, scale=2), nullable=True),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
            name=op.f("fk_sub_activity_activity_id_activity"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["opd_id"], ["opd.id"], name=op.f("fk_sub_activity_opd_id_opd"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_sub_activity_region_id_region"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_sub_activity_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sub_activity")),
        sa.UniqueConstraint(
            "region_id",
            "fiscal_year",
            "code",
            name=op.f("uq_sub_activity_region_id_fiscal_year_code"),
        ),
    )
    op.create_index(
        op.f("ix_sub_activity_activity_id"), "sub_activity", ["activity_id"], unique=False
    )
    op.create_index(
        "ix_sub_activity_fiscal_year_code_id",
        "sub_activity",
        ["fiscal_year", "code", "id"],
        unique=False,
    )
    op.create_index(op.f("ix_sub_activity_opd_id"), "sub_activity", ["opd_id"], unique=False)
    op.create_index(op.f("ix_sub_activity_region_id"), "sub_activity", ["region_id"], unique=False)
    op.create_index(op.f("ix_sub_activity_source_id"), "sub_activity", ["source_id"], unique=False)
    op.create_table(
        "budget_line",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("sub_activity_id", sa.BigInteger(), nullable=False),
        sa.Column("account_code", sa.String(length=24), nullable=False),
        sa.Column("account_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("dpa_number", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_budget_line_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sub_activity_id"],
            ["sub_activity.id"],
            name=op.f("fk_budget_line_sub_activity_id_sub_activity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_line")),
        sa.UniqueConstraint(
            "sub_activity_id",
            "account_code",
            name=op.f("uq_budget_line_sub_activity_id_account_code"),
        ),
    )
    op.create_index(
        op.f("ix_budget_line_account_code"), "budget_line", ["account_code"], unique=False
    )
    op.create_index(op.f("ix_budget_line_source_id"), "budget_line", ["source_id"], unique=False)
    op.create_index(
        op.f("ix_budget_line_sub_activity_id"), "budget_line", ["sub_activity_id"], unique=False
    )
    op.create_table(
        "contract",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("tender_id", sa.BigInteger(), nullable=True),
        sa.Column("sub_activity_id", sa.BigInteger(), nullable=True),
        sa.Column("vendor_id", sa.BigInteger(), nullable=True),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("value", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("original_value", sa.Numeric(precision=20, scale=2), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_contract_region_id_region"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_contract_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sub_activity_id"],
            ["sub_activity.id"],
            name=op.f("fk_contract_sub_activity_id_sub_activity"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tender_id"],
            ["tender.id"],
            name=op.f("fk_contract_tender_id_tender"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendor.id"],
            name=op.f("fk_contract_vendor_id_vendor"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract")),
        sa.UniqueConstraint("region_id", "number", name=op.f("uq_contract_region_id_number")),
    )
    op.create_index(op.f("ix_contract_region_id"), "contract", ["region_id"], unique=False)
    op.create_index(op.f("ix_contract_source_id"), "contract", ["source_id"], unique=False)
    op.create_index(
        op.f("ix_contract_sub_activity_id"), "contract", ["sub_activity_id"], unique=False
    )
    op.create_index(op.f("ix_contract_tender_id"), "contract", ["tender_id"], unique=False)
    op.create_index(op.f("ix_contract_vendor_id"), "contract", ["vendor_id"], unique=False)
    op.create_table(
        "discrepancy",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("subject_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("opd_id", sa.BigInteger(), nullable=True),
        sa.Column("sub_activity_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "evidence", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column(
            "detected_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["opd_id"], ["opd.id"], name=op.f("fk_discrepancy_opd_id_opd"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_discrepancy_region_id_region"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sub_activity_id"],
            ["sub_activity.id"],
            name=op.f("fk_discrepancy_sub_activity_id_sub_activity"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discrepancy")),
        sa.UniqueConstraint("rule", "subject_key", name=op.f("uq_discrepancy_rule_subject_key")),
    )
    op.create_index(op.f("ix_discrepancy_opd_id"), "discrepancy", ["opd_id"], unique=False)
    op.create_index(
        "ix_discrepancy_open",
        "discrepancy",
        ["region_id", "fiscal_year"],
        unique=False,
        postgresql_where="resolved_at IS NULL",
    )
    op.create_index(op.f("ix_discrepancy_region_id"), "discrepancy", ["region_id"], unique=False)
    op.create_index(op.f("ix_discrepancy_rule"), "discrepancy", ["rule"], unique=False)
    op.create_index(
        op.f("ix_discrepancy_sub_activity_id"), "discrepancy", ["sub_activity_id"], unique=False
    )
    op.create_table(
        "indicator",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("sub_activity_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("target", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("achieved", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_indicator_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sub_activity_id"],
            ["sub_activity.id"],
            name=op.f("fk_indicator_sub_activity_id_sub_activity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator")),
        sa.UniqueConstraint(
            "sub_activity_id", "seq", name=op.f("uq_indicator_sub_activity_id_seq")
        ),
    )
    op.create_index(op.f("ix_indicator_source_id"), "indicator", ["source_id"], unique=False)
    op.create_index(
        op.f("ix_indicator_sub_activity_id"), "indicator", ["sub_activity_id"], unique=False
    )
    op.create_table(
        "procurement_package",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("rup_code", sa.String(length=20), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("opd_id", sa.BigInteger(), nullable=True),
        sa.Column("sub_activity_id", sa.BigInteger(), nullable=True),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("ceiling", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("funding_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("announced_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["opd_id"],
            ["opd.id"],
            name=op.f("fk_procurement_package_opd_id_opd"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_procurement_package_region_id_region"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_procurement_package_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sub_activity_id"],
            ["sub_activity.id"],
            name=op.f("fk_procurement_package_sub_activity_id_sub_activity"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procurement_package")),
        sa.UniqueConstraint("rup_code", name=op.f("uq_procurement_package_rup_code")),
    )
    op.create_index(
        op.f("ix_procurement_package_opd_id"), "procurement_package", ["opd_id"], unique=False
    )
    op.create_index(
        op.f("ix_procurement_package_region_id"), "procurement_package", ["region_id"], unique=False
    )
    op.create_index(
        op.f("ix_procurement_package_source_id"), "procurement_package", ["source_id"], unique=False
    )
    op.create_index(
        op.f("ix_procurement_package_sub_activity_id"),
        "procurement_package",
        ["sub_activity_id"],
        unique=False,
    )
    op.create_table(
        "progress_report",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("sub_activity_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("physical_percent", sa.Numeric(precision=7, scale=2), nullable=False),
        sa.Column("financial_percent", sa.Numeric(precision=7, scale=2), nullable=False),
        sa.Column("problems", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_progress_report_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sub_activity_id"],
            ["sub_activity.id"],
            name=op.f("fk_progress_report_sub_activity_id_sub_activity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_report")),
        sa.UniqueConstraint(
            "sub_activity_id", "period", name=op.f("uq_progress_report_sub_activity_id_period")
        ),
    )
    op.create_index(
        op.f("ix_progress_report_source_id"), "progress_report", ["source_id"], unique=False
    )
    op.create_index(
        op.f("ix_progress_report_sub_activity_id"),
        "progress_report",
        ["sub_activity_id"],
        unique=False,
    )
    op.create_table(
        "contract_amendment",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contract.id"],
            name=op.f("fk_contract_amendment_contract_id_contract"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_contract_amendment_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_amendment")),
        sa.UniqueConstraint(
            "contract_id", "version", name=op.f("uq_contract_amendment_contract_id_version")
        ),
    )
    op.create_index(
        op.f("ix_contract_amendment_contract_id"),
        "contract_amendment",
        ["contract_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contract_amendment_source_id"), "contract_amendment", ["source_id"], unique=False
    )
    op.create_table(
        "package_budget_row",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("package_id", sa.BigInteger(), nullable=False),
        sa.Column("mak", sa.String(length=48), nullable=False),
        sa.Column("sub_activity_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("account_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("budget_line_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["budget_line_id"],
            ["budget_line.id"],
            name=op.f("fk_package_budget_row_budget_line_id_budget_line"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["procurement_package.id"],
            name=op.f("fk_package_budget_row_package_id_procurement_package"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_package_budget_row_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_package_budget_row")),
        sa.UniqueConstraint("package_id", "mak", name=op.f("uq_package_budget_row_package_id_mak")),
    )
    op.create_index(
        op.f("ix_package_budget_row_budget_line_id"),
        "package_budget_row",
        ["budget_line_id"],
        unique=False,
    )
    op.create_index(op.f("ix_package_budget_row_mak"), "package_budget_row", ["mak"], unique=False)
    op.create_index(
        op.f("ix_package_budget_row_package_id"), "package_budget_row", ["package_id"], unique=False
    )
    op.create_index(
        op.f("ix_package_budget_row_source_id"), "package_budget_row", ["source_id"], unique=False
    )
    op.create_table(
        "payment",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("sp2d_number", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("account_code", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("sub_activity_id", sa.BigInteger(), nullable=True),
        sa.Column("contract_id", sa.BigInteger(), nullable=True),
        sa.Column("payee_vendor_id", sa.BigInteger(), nullable=True),
        sa.Column("payee_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("payee_tax_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contract.id"],
            name=op.f("fk_payment_contract_id_contract"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["payee_vendor_id"],
            ["vendor.id"],
            name=op.f("fk_payment_payee_vendor_id_vendor"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_payment_region_id_region"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_payment_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sub_activity_id"],
            ["sub_activity.id"],
            name=op.f("fk_payment_sub_activity_id_sub_activity"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment")),
        sa.UniqueConstraint(
            "region_id",
            "fiscal_year",
            "sp2d_number",
            name=op.f("uq_payment_region_id_fiscal_year_sp2d_number"),
        ),
    )
    op.create_index(op.f("ix_payment_contract_id"), "payment", ["contract_id"], unique=False)
    op.create_index(
        op.f("ix_payment_payee_vendor_id"), "payment", ["payee_vendor_id"], unique=False
    )
    op.create_index(op.f("ix_payment_region_id"), "payment", ["region_id"], unique=False)
    op.create_index(op.f("ix_payment_source_id"), "payment", ["source_id"], unique=False)
    op.create_index(
        op.f("ix_payment_sub_activity_id"), "payment", ["sub_activity_id"], unique=False
    )
    op.create_table(
        "tender_package",
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tender_id", sa.BigInteger(), nullable=False),
        sa.Column("package_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["procurement_package.id"],
            name=op.f("fk_tender_package_package_id_procurement_package"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_tender_package_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tender_id"],
            ["tender.id"],
            name=op.f("fk_tender_package_tender_id_tender"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tender_package")),
        sa.UniqueConstraint(
            "tender_id", "package_id", name=op.f("uq_tender_package_tender_id_package_id")
        ),
    )
    op.create_index(
        op.f("ix_tender_package_package_id"), "tender_package", ["package_id"], unique=False
    )
    op.create_index(
        op.f("ix_tender_package_source_id"), "tender_package", ["source_id"], unique=False
    )
    op.create_index(
        op.f("ix_tender_package_tender_id"), "tender_package", ["tender_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tender_package_tender_id"), table_name="tender_package")
    op.drop_index(op.f("ix_tender_package_source_id"), table_name="tender_package")
    op.drop_index(op.f("ix_tender_package_package_id"), table_name="tender_package")
    op.drop_table("tender_package")
    op.drop_index(op.f("ix_payment_sub_activity_id"), table_name="payment")
    op.drop_index(op.f("ix_payment_source_id"), table_name="payment")
    op.drop_index(op.f("ix_payment_region_id"), table_name="payment")
    op.drop_index(op.f("ix_payment_payee_vendor_id"), table_name="payment")
    op.drop_index(op.f("ix_payment_contract_id"), table_name="payment")
    op.drop_table("payment")
    op.drop_index(op.f("ix_package_budget_row_source_id"), table_name="package_budget_row")
    op.drop_index(op.f("ix_package_budget_row_package_id"), table_name="package_budget_row")
    op.drop_index(op.f("ix_package_budget_row_mak"), table_name="package_budget_row")
    op.drop_index(op.f("ix_package_budget_row_budget_line_id"), table_name="package_budget_row")
    op.drop_table("package_budget_row")
    op.drop_index(op.f("ix_contract_amendment_source_id"), table_name="contract_amendment")
    op.drop_index(op.f("ix_contract_amendment_contract_id"), table_name="contract_amendment")
    op.drop_table("contract_amendment")
    op.drop_index(op.f("ix_progress_report_sub_activity_id"), table_name="progress_report")
    op.drop_index(op.f("ix_progress_report_source_id"), table_name="progress_report")
    op.drop_table("progress_report")
    op.drop_index(op.f("ix_procurement_package_sub_activity_id"), table_name="procurement_package")
    op.drop_index(op.f("ix_procurement_package_source_id"), table_name="procurement_package")
    op.drop_index(op.f("ix_procurement_package_region_id"), table_name="procurement_package")
    op.drop_index(op.f("ix_procurement_package_opd_id"), table_name="procurement_package")
    op.drop_table("procurement_package")
    op.drop_index(op.f("ix_indicator_sub_activity_id"), table_name="indicator")
    op.drop_index(op.f("ix_indicator_source_id"), table_name="indicator")
    op.drop_table("indicator")
    op.drop_index(op.f("ix_discrepancy_sub_activity_id"), table_name="discrepancy")
    op.drop_index(op.f("ix_discrepancy_rule"), table_name="discrepancy")
    op.drop_index(op.f("ix_discrepancy_region_id"), table_name="discrepancy")
    op.drop_index(
        "ix_discrepancy_open", table_name="discrepancy", postgresql_where="resolved_at IS NULL"
    )
    op.drop_index(op.f("ix_discrepancy_opd_id"), table_name="discrepancy")
    op.drop_table("discrepancy")
    op.drop_index(op.f("ix_contract_vendor_id"), table_name="contract")
    op.drop_index(op.f("ix_contract_tender_id"), table_name="contract")
    op.drop_index(op.f("ix_contract_sub_activity_id"), table_name="contract")
    op.drop_index(op.f("ix_contract_source_id"), table_name="contract")
    op.drop_index(op.f("ix_contract_region_id"), table_name="contract")
    op.drop_table("contract")
    op.drop_index(op.f("ix_budget_line_sub_activity_id"), table_name="budget_line")
    op.drop_index(op.f("ix_budget_line_source_id"), table_name="budget_line")
    op.drop_index(op.f("ix_budget_line_account_code"), table_name="budget_line")
    op.drop_table("budget_line")
    op.drop_index(op.f("ix_sub_activity_source_id"), table_name="sub_activity")
    op.drop_index(op.f("ix_sub_activity_region_id"), table_name="sub_activity")
    op.drop_index(op.f("ix_sub_activity_opd_id"), table_name="sub_activity")
    op.drop_index("ix_sub_activity_fiscal_year_code_id", table_name="sub_activity")
    op.drop_index(op.f("ix_sub_activity_activity_id"), table_name="sub_activity")
    op.drop_table("sub_activity")
    op.drop_index(op.f("ix_bid_vendor_id"), table_name="bid")
    op.drop_index(op.f("ix_bid_tender_id"), table_name="bid")
    op.drop_index(op.f("ix_bid_source_id"), table_name="bid")
    op.drop_table("bid")
    op.drop_index(op.f("ix_activity_source_id"), table_name="activity")
    op.drop_index(op.f("ix_activity_region_id"), table_name="activity")
    op.drop_index(op.f("ix_activity_program_id"), table_name="activity")
    op.drop_table("activity")
    op.drop_index(op.f("ix_tender_winner_vendor_id"), table_name="tender")
    op.drop_index(op.f("ix_tender_source_id"), table_name="tender")
    op.drop_index(op.f("ix_tender_region_id"), table_name="tender")
    op.drop_table("tender")
    op.drop_index(op.f("ix_program_source_id"), table_name="program")
    op.drop_index(op.f("ix_program_region_id"), table_name="program")
    op.drop_table("program")
    op.drop_constraint(op.f("fk_source_owner_opd_id_opd"), "source", type_="foreignkey")
    op.drop_index(op.f("ix_opd_source_id"), table_name="opd")
    op.drop_index(op.f("ix_opd_region_id"), table_name="opd")
    op.drop_index(op.f("ix_opd_code"), table_name="opd")
    op.drop_table("opd")
    op.drop_index(op.f("ix_vendor_tax_id"), table_name="vendor")
    op.drop_index(op.f("ix_vendor_source_id"), table_name="vendor")
    op.drop_table("vendor")
    op.drop_index(op.f("ix_region_source_id"), table_name="region")
    op.drop_index(op.f("ix_region_parent_id"), table_name="region")
    op.drop_table("region")
    op.drop_index(op.f("ix_source_owner_opd_id"), table_name="source")
    op.drop_table("source")

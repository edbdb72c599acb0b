"""follow-up, E-Surat, feed tokens: the follow-up of a finding and its thread; letters; keys
that read the agenda feed only

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def _letters() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "letter",
        sa.Column("source_id", text(length=64), nullable=False),
        sa.Column("source_key", text(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("number", text(), nullable=False),
        sa.Column("dated_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", text(), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("sender", text(), nullable=True),
        sa.Column("recipient", text(), nullable=True),
        sa.Column("contract_number", text(), nullable=True),
        sa.Column("tender_code", text(), nullable=True),
        sa.Column("contract_id", sa.BigInteger(), nullable=True),
        sa.Column("tender_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"],
            name=op.f("fk_letter_contract_id_contract"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["region.id"], name=op.f("fk_letter_region_id_region"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_letter_source_id_source"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tender_id"], ["tender.id"], name=op.f("fk_letter_tender_id_tender"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter")),
        sa.UniqueConstraint("region_id", "number", name=op.f("uq_letter_region_id_number")),
    )  # fmt: skip
    for column in ("contract_id", "region_id", "source_id", "tender_id"):
        op.create_index(op.f(f"ix_letter_{column}"), "letter", [column], unique=False)


def upgrade() -> None:
    _letters()
    op.add_column(
        "api_key",
        sa.Column("feed_only", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_table(
        "follow_up",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("discrepancy_id", sa.BigInteger(), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("opd_id", sa.BigInteger(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("assigned_by", sa.Text(), nullable=False),
        sa.Column("assigner_role", sa.String(length=16), nullable=False),
        sa.Column("assigner_region", sa.String(length=16), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["discrepancy_id"], ["discrepancy.id"],
            name=op.f("fk_follow_up_discrepancy_id_discrepancy"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opd_id"], ["opd.id"], name=op.f("fk_follow_up_opd_id_opd"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["region.id"],
            name=op.f("fk_follow_up_region_id_region"), ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up")),
        sa.UniqueConstraint("discrepancy_id", name=op.f("uq_follow_up_discrepancy_id")),
    )  # fmt: skip
    for column in ("discrepancy_id", "opd_id", "region_id"):
        op.create_index(op.f(f"ix_follow_up_{column}"), "follow_up", [column], unique=False)
    op.create_table(
        "follow_up_action",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("follow_up_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column(
            "refs", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["follow_up_id"], ["follow_up.id"],
            name=op.f("fk_follow_up_action_follow_up_id_follow_up"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up_action")),
    )  # fmt: skip
    op.create_index(op.f("ix_follow_up_action_follow_up_id"), "follow_up_action", ["follow_up_id"])


def downgrade() -> None:
    op.drop_table("follow_up_action")
    op.drop_table("follow_up")
    op.drop_table("letter")
    op.drop_column("api_key", "feed_only")

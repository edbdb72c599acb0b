"""outbox horizon: how far the outbox has been pruned

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 06:00:00

A subscriber resuming from a cursor below the horizon has lost events to retention and is
told so (CURSOR_EXPIRED) instead of silently missing them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_horizon",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pruned_through", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_horizon")),
    )
    op.execute("INSERT INTO outbox_horizon (id, pruned_through) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("outbox_horizon")

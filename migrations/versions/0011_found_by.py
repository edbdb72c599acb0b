"""how a change was found; when each source was last reconciled and verified

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 08:00:00

- `change_history.found_by`, `outbox.found_by`: `sync` (a regular, watermarked or keyed
  sync), `full` (`rantai sync --full`) or `reconciliation` (the scheduled full comparison
  of `serve`); null for what no sync wrote (links, ketimpangan). The sync sets it for its
  transaction (`SET LOCAL rantai.found_by`), the column's default reads it.
- `source.reconciled_at`: when its last scheduled reconciliation finished (or, for a source
  never reconciled, when the schedule started counting).
- `source.verification`: the last `rantai verify` of the source (when, how long, the
  differences).
- `sync_state.loading`: the stream is being loaded as a baseline (its first load into a
  store without its rows): its new rows get no per-row CREATED history; a LOADED event per
  Pemda and fiscal year closes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOUND_BY = "nullif(current_setting('rantai.found_by', true), '')"


def upgrade() -> None:
    for table in ("change_history", "outbox"):
        op.add_column(
            table,
            sa.Column("found_by", sa.String(length=16), server_default=sa.text(FOUND_BY)),
        )
    op.add_column("source", sa.Column("reconciled_at", sa.DateTime(timezone=True)))
    op.add_column("source", sa.Column("verification", postgresql.JSONB(astext_type=sa.Text())))
    op.add_column(
        "sync_state",
        sa.Column("loading", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("sync_state", "loading")
    op.drop_column("source", "verification")
    op.drop_column("source", "reconciled_at")
    op.drop_column("outbox", "found_by")
    op.drop_column("change_history", "found_by")

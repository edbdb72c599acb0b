"""paged sources: where an http-json stream's read resumes

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-06 08:00:00

- `sync_state.resume`: for a source read in pages (an http-json API), the place its read
  of the stream had committed when a run failed (the position asking for the next page,
  the watermark it read after, the highest watermark value it had read). The next run
  resumes there; a read that finishes clears it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sync_state",
        sa.Column("resume", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("sync_state", "resume")

"""block checksums: what a keyed-diff stream's source held per block of keys at its last read

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 08:00:00

- `sync_state.checksums`: for a keyed-diff stream of a PostgreSQL or MariaDB source, the
  signature of the mapping it was read with, the block width and, per block of source keys
  (a prefix of the MD5 of the key), the source's row count and the sum of its rows'
  hashes, computed by the source's own SQL before the rows were read
  (`hub/sync/checksums.py`). The next sync reads only the blocks whose checksum moved.
  Null: no checksums yet (the next sync reads every row and stores them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sync_state",
        sa.Column("checksums", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("sync_state", "checksums")

"""sync files: a workbook source's files as its keyed-diff stream last read them

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 17:20:00

- `sync_file`: per source, stream and file name, the file's stamp (device, inode, size,
  modification and status-change times; null when it changed within the file system's
  tick) and the source keys of its rows, with the signature of the mapping it was read
  with (`hub/sync/files.py`). The next read of the stream reads only the files whose stamp
  moved, and the stored rows that can have left the source are those the read or removed
  files had.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_file",
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("stamp", sa.Text(), nullable=True),
        sa.Column("keys", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_sync_file_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "stream", "name", name=op.f("pk_sync_file")),
    )


def downgrade() -> None:
    op.drop_table("sync_file")

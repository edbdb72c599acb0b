"""paged sources and uploads: where an http-json stream's read resumes; workbooks sent by OPD

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 08:00:00

- `sync_state.resume`: for a source read in pages (an http-json API), the place its read
  of the stream had committed when a run failed (the position asking for the next page,
  the watermark it read after, the highest watermark value it had read). The next run
  resumes there; a read that finishes clears it.
- `upload`: a workbook an OPD operator sent (POST /upload/monev), accepted after its
  check, kept whole with who sent it, when and its SHA-256 (unique per source);
  `source.last_upload_file`, `last_upload_at`: an uploads source's last accepted upload.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sync_state",
        sa.Column("resume", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.create_table(
        "upload",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=16), nullable=False),
        sa.Column("opd_code", sa.String(length=32), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.Text(), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_upload_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload")),
        sa.UniqueConstraint("source_id", "sha256", name=op.f("uq_upload_source_id_sha256")),
    )
    op.create_index("ix_upload_source_id_file_name", "upload", ["source_id", "file_name"])
    op.add_column("source", sa.Column("last_upload_file", sa.Text(), nullable=True))
    op.add_column("source", sa.Column("last_upload_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("source", "last_upload_at")
    op.drop_column("source", "last_upload_file")
    op.drop_index("ix_upload_source_id_file_name", table_name="upload")
    op.drop_table("upload")
    op.drop_column("sync_state", "resume")

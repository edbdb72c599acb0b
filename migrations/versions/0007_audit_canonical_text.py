"""audit log: the exact bytes each record's hash covers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 06:00:00

A record's hash covered orjson's text of its detail, but the detail was stored as jsonb,
which rewrites some values (`-0.0` becomes `0.0`): `rantai audit verify` then failed at a
record nobody had touched. The canonical text is now stored beside the jsonb, and the hash
covers it. Records written before keep `detail_text` NULL and are checked as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("detail_text", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_log", "detail_text")

"""the rules' reference day: the day their last run compared with

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 10:30:00

- `discrepancy_state.reference_day`: the day (the `[discrepancies]` table's `as_of`, else
  today in WITA) the last run of the ketimpangan rules compared deadlines and graces with.
  When the next run's day differs, the rules that compare with it run on every Pemda-year,
  though nothing in the chain changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("discrepancy_state", sa.Column("reference_day", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("discrepancy_state", "reference_day")

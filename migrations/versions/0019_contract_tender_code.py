"""contract tender code index: the rules find a tender's contracts by its code

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 19:55:00

- `ix_contract_tender_code`: SLOW_AWARD looks up each tender's contracts by code and the
  contract rules join the contracts of a Pemda-year's tenders by it; without an index each
  lookup read every contract of the province (87,000 at NTT scale, 14 ms a tender).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_contract_tender_code"), "contract", ["tender_code"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_contract_tender_code"), table_name="contract")

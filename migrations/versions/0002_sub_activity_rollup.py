"""sub-activity rollup view: stage and chain totals computed in SQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 01:40:00

`stage` and every ChainSummary figure come from this view, so a filter on stage and a
summary over a province are one SQL statement each, never rows loaded into Python.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The stage is the furthest link of the chain that has data:
# COMPLETED      latest monev report at 100% physical progress
# IMPLEMENTING   any physical progress or any SP2D payment
# CONTRACTED     a contract counted against the sub-activity
# PROCURING      a RUP package
# BUDGETED       a DPA allocation above zero
# PLANNED        only the plan (RKPD/Renja)
ROLLUP = """
CREATE VIEW sub_activity_rollup AS
SELECT
    sa.id AS sub_activity_id,
    sa.region_id,
    sa.opd_id,
    sa.fiscal_year,
    COALESCE(sa.planned_amount, 0)::numeric(20, 2) AS planned_amount,
    COALESCE(b.allocated, 0)::numeric(20, 2) AS allocated,
    COALESCE(p.paid, 0)::numeric(20, 2) AS paid,
    COALESCE(pk.ceiling, 0)::numeric(20, 2) AS procurement_ceiling,
    COALESCE(c.contracted, 0)::numeric(20, 2) AS contracted,
    pr.physical_percent,
    CASE
        WHEN pr.physical_percent >= 100 THEN 'COMPLETED'
        WHEN pr.physical_percent > 0 OR p.paid > 0 THEN 'IMPLEMENTING'
        WHEN c.contracts > 0 THEN 'CONTRACTED'
        WHEN pk.packages > 0 THEN 'PROCURING'
        WHEN b.allocated > 0 THEN 'BUDGETED'
        ELSE 'PLANNED'
    END AS stage
FROM sub_activity sa
LEFT JOIN LATERAL (
    SELECT sum(amount) AS allocated FROM budget_line WHERE sub_activity_id = sa.id
) b ON true
LEFT JOIN LATERAL (
    SELECT sum(amount) AS paid FROM payment WHERE sub_activity_id = sa.id
) p ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS packages, sum(ceiling) AS ceiling
    FROM procurement_package WHERE sub_activity_id = sa.id
) pk ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS contracts, sum(value) AS contracted
    FROM contract WHERE sub_activity_id = sa.id
) c ON true
LEFT JOIN LATERAL (
    SELECT physical_percent FROM progress_report
    WHERE sub_activity_id = sa.id ORDER BY period DESC LIMIT 1
) pr ON true
"""


def upgrade() -> None:
    op.execute(ROLLUP)


def downgrade() -> None:
    op.execute("DROP VIEW sub_activity_rollup")

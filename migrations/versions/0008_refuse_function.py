"""rantai_refuse(value, why): raise, for the compiled path's value checks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:00:00

The compiled path builds an answer's JSON in one statement. A stored value the schema
would refuse (a region level 'Kota', an Int past 2^31, a null in a non-null field) must
not reach the client: the ordinary path answers such a request with an error. Each such
field is wrapped as `CASE WHEN <valid> THEN value ELSE rantai_refuse(value, why) END`; the
function raises, the statement fails, and the compiled path declines to the resolvers,
which report the error. A VOLATILE function is never folded at plan time, so it raises
only for a row that has such a value.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION rantai_refuse(value anyelement, why text) RETURNS anyelement
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RAISE EXCEPTION 'rantai: a stored value the schema refuses (%)', why
                USING ERRCODE = 'data_exception';
            RETURN value;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION rantai_refuse(anyelement, text)")

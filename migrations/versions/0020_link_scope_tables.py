"""link scope by table: a write notes its table beside its Pemda

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 20:10:00

Migration 0017's notes said which Pemda were written, and the link resolution re-checked
every derived link of those Pemda: a contract's addendum re-checked the DPA line of each
of the Pemda's 20,000 RUP budget rows (0.35 s at NTT scale, under the lock that sync
batches wait for). Each note now names the table written (`table_name`), and a derived
link is re-checked only in the Pemda where one of its inputs was written
(`LinkColumn.inputs` in hub/sync/links.py). A note without a table (those of an upgrade)
stands for every table.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOTE = """
CREATE OR REPLACE FUNCTION link_scope_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The link resolution's own moves: checked in the same pass, in order.
    IF current_setting('rantai.link_scope_resolving', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE 'INSERT INTO link_scope_noted SELECT DISTINCT region_id, $1 FROM ('
            || replace(TG_ARGV[0], '{rows}', 'new_rows') || ') n' USING TG_TABLE_NAME::text;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE 'INSERT INTO link_scope_noted SELECT DISTINCT region_id, $1 FROM ('
            || replace(TG_ARGV[0], '{rows}', 'old_rows') || ') n' USING TG_TABLE_NAME::text;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO link_scope_noted SELECT id, TG_TABLE_NAME FROM region;
    END IF;
    RETURN NULL;
END $$
"""

_NOTE_0017 = """
CREATE OR REPLACE FUNCTION link_scope_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('rantai.link_scope_resolving', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE 'INSERT INTO link_scope_noted SELECT DISTINCT region_id FROM ('
            || replace(TG_ARGV[0], '{rows}', 'new_rows') || ') n';
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE 'INSERT INTO link_scope_noted SELECT DISTINCT region_id FROM ('
            || replace(TG_ARGV[0], '{rows}', 'old_rows') || ') n';
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO link_scope_noted SELECT id FROM region;
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute("ALTER TABLE link_scope_noted ADD COLUMN table_name text")
    op.execute(_NOTE)


def downgrade() -> None:
    op.execute(_NOTE_0017)
    op.execute("ALTER TABLE link_scope_noted DROP COLUMN table_name")

"""Insert plans: a batch's new rows of one binding, with their links, in one statement.

Built once per binding from its columns and its table's links (`hub.sync.links`); the
writer uses them for the new rows of every batch whose binding has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.events.changelog import NEXT_HISTORY_ID, history_insert, outbox_statement, subject
from hub.sync.bindings import Binding
from hub.sync.links import BY_TABLE
from hub.sync.types import TYPES


def _reads(sql: str, table: str) -> bool:
    return re.search(rf"(FROM|JOIN)\s+{table}\b", sql) is not None


def _json_value(alias: str, column: str, pg: str) -> str:
    """A column as the change log writes it to JSON (`hub.events.changelog`): money and
    other numerics as exact strings."""
    return f"{alias}.{column}::text" if pg == "numeric" else f"{alias}.{column}"


@dataclass(frozen=True)
class InsertPlan:
    """New rows of a batch inserted with their links resolved, in one statement.

    Inside `Writer.transaction`, `history` (or `copied`) also writes their CREATED history,
    built in SQL, and returns (id, n, history id, changed fields); their outbox rows then go
    to STAGE in one more statement (`stage_sql`). Outside it, `sql` returns (id, n, link
    values…) and the writer records the changes with `Writer.record`.
    """

    sql: str
    links: tuple[str, ...]  # link columns, in hub.sync.links order
    defaults: tuple[str | None, ...]  # per link: the on_insert column it replaces, if any
    # The rows and their CREATED history (values as JSON built here, not sent back from the
    # writer), reading the batch's rows from array parameters.
    history: str
    # `history` reading its rows from the temporary table `inbox` (columns `inbox_columns`,
    # `inbox_ddl` creates it), which the batch's rows reach by COPY: asyncpg encodes COPY
    # records without the per-element checks of array parameters (a fifth of this process's
    # CPU in an initial sync went to encoding the arrays).
    copied: str
    inbox: str
    inbox_ddl: str
    inbox_columns: tuple[str, ...]
    # `sql` reading its rows from `inbox`: a baseline load's new rows, without history.
    quiet: str

    @staticmethod
    def build(binding: Binding) -> InsertPlan | None:
        table, types = binding.table, TYPES[binding.table]
        columns = list(binding.columns)
        extra = list(binding.on_insert)
        given = [*columns, *extra, "source_key", "source_updated_at"]
        links = [link for link, _, _ in BY_TABLE.get(table, ())]
        for link in links:
            # A link that reads its own table would not see the rows of this statement;
            # those bindings keep the insert-then-resolve path.
            if link.column in columns or _reads(link.value, table):
                return None
            if not set(re.findall(r"\bx\.(\w+)", link.value)) <= set(given):
                return None
        pg = [types[c].pg for c in [*columns, *extra]] + ["text", "timestamptz", "text"]
        unnest = ", ".join(f"${i + 2}::{t}[]" for i, t in enumerate(pg))  # $1: source id
        names = [*given, "nkey"]
        linked = [link.column for link in links]
        plain = [c for c in given if c not in linked]  # a link may replace an on_insert value
        values = [f"x.{c}" for c in plain] + [f"({link.value})" for link in links]
        match = " AND ".join(f"i.{c} = x.{c}" for c in binding.key)
        arrays = f"SELECT * FROM unnest({unnest}) WITH ORDINALITY AS x({', '.join(names)}, n)"
        inbox = f"rantai_inbox_{table}"
        inbox_ddl = (
            f"CREATE TEMP TABLE IF NOT EXISTS {inbox} ("
            + ", ".join(f"{c} {t}" for c, t in zip(names, pg, strict=True))
            + ", n int8 NOT NULL) ON COMMIT DELETE ROWS"
        )
        head = f"""
            WITH x AS MATERIALIZED (
                {arrays}
            ),
            ins AS (
                INSERT INTO {table} ({", ".join([*plain, *linked])}, source_id, synced_at)
                SELECT {", ".join(values)}, $1, now() FROM x ORDER BY x.n
                RETURNING *
            )"""
        defaults = tuple(c if c in given else None for c in linked)
        moved = [
            f"i.{c} IS DISTINCT FROM {'x.' + d if d else 'NULL'}"
            for c, d in zip(linked, defaults, strict=True)
        ]
        after = " || ".join(
            [
                "jsonb_build_object("
                + ", ".join(f"'{c}', {_json_value('x', c, types[c].pg)}" for c in columns)
                + ")"
            ]
            + [
                f"CASE WHEN {m} THEN jsonb_build_object('{c}', {_json_value('i', c, types[c].pg)})"
                " ELSE '{}'::jsonb END"
                for c, m in zip(linked, moved, strict=True)
            ]
        )
        fields = "ARRAY[" + ", ".join(f"'{c}'" for c in columns) + "]::text[]"
        if linked:
            cases = ", ".join(
                f"CASE WHEN {m} THEN '{c}' END" for c, m in zip(linked, moved, strict=True)
            )
            fields += f" || array_remove(ARRAY[{cases}]::text[], NULL)"
        created = (
            f"SELECT h, $1, '{binding.entity}', id, nkey, 'CREATED', NULL, a FROM j ORDER BY h"
        )
        returned = "".join(f", i.{c}" for c in linked)
        sql = f"{head} SELECT i.id, x.n{returned} FROM ins i JOIN x ON {match} ORDER BY x.n"
        history = f"""{head},
            j AS MATERIALIZED (
                SELECT i.id, x.n, x.nkey, {after} AS a, {fields} AS f,
                    {NEXT_HISTORY_ID} AS h
                FROM ins i JOIN x ON {match} ORDER BY x.n
            ),
            history AS (
                {history_insert(created)}
            )
            SELECT id, n, h, array_to_string(f, ',') AS f FROM j ORDER BY n"""
        if arrays not in history:
            raise RuntimeError(f"{table}: the insert plan does not read its rows from arrays")
        copied = history.replace(arrays, f"SELECT * FROM {inbox}", 1)
        quiet = sql.replace(arrays, f"SELECT * FROM {inbox}", 1)
        return InsertPlan(
            sql, tuple(linked), defaults, history, copied, inbox, inbox_ddl, (*names, "n"), quiet
        )


def stage_sql(binding: Binding) -> str:
    """Outbox rows into STAGE for the CREATED rows whose history InsertPlan.history wrote:
    $1 ids, $2 history ids, $3 changed fields (comma-separated), $4 source.

    Routed by the binding's context query over those ids, as `Writer.record` does, and
    named as `changelog.subject` says (a row with a parent as that parent). Routing
    computed over the inserted rows in the insert itself (a CTE the planner knows nothing
    about, joined to whole tables) was planned as scans of those tables per batch at
    province scale.
    """
    route, join, ctx = "NULL, NULL, NULL", "", ""
    if binding.context:
        ctx = f", ctx(id, r, d, y) AS ({binding.context})"
        route, join = "c.r::text, c.d::text, c.y::int4", " LEFT JOIN ctx c ON c.id = v.e"
    seen = subject(binding, "$1", "'CREATED'", "string_to_array(v.f, ',')")
    rows = "v AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[]) AS v(e, h, f))"
    return outbox_statement(
        "v",
        f"v.h, '{binding.type_name}', {seen.entity_id}, {seen.op}, {route}, {seen.fields}, $4",
        order="v.h",
        staged=True,
        ctes=rows + ctx + seen.ctes,
        join=join + seen.join,
    )


INSERT_PLANS: dict[str, InsertPlan | None] = {}


def insert_plan(binding: Binding) -> InsertPlan | None:
    if binding.entity not in INSERT_PLANS:
        INSERT_PLANS[binding.entity] = InsertPlan.build(binding)
    return INSERT_PLANS[binding.entity]

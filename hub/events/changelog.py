"""The change log's write side: change_history rows and the outbox rows beside them.

Every writer of the log goes through here: a sync batch (`hub.sync.writer`), link
resolution and the ketimpangan rules. The rule that makes the outbox a cursor is declared
once, in `outbox_statement`: outbox ids are taken under OUTBOX_LOCK, a transaction-level
advisory lock held to commit, so ids increase in commit order and a reader that has seen
id N has seen every id below it (`hub.events.outbox` reads them; `tests/test_outbox.py`
proves it). The same statement wakes the change feeds (a NOTIFY is delivered at commit).

Inside a sync batch the outbox rows wait in STAGE, a per-connection temporary table, and
reach the outbox in the message that commits (FLUSH), so the lock is held for that message
only, never across a round trip to a busy sync process.

The outbox names what clients can resolve with `node(id)`: GraphQL types and their ids. A
row with no type of its own (a RUP package's budget row, a tender's schedule) is reported
as its parent (`Parent`); change_history keeps the row's own entity and natural key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import orjson

from hub.db import PgConnection
from hub.events.broker import CHANNEL

OUTBOX_LOCK = 0x52414E5441490001
OUTBOX_COLUMNS = (
    "history_id, entity, entity_id, op, region_code, opd_code, fiscal_year, changed_fields, "
    "source_id"
)
# The history's id sequence, looked up once per statement (an InitPlan), not per row:
# `pg_get_serial_sequence` reads the catalog on each call (4% of the store's CPU in an
# initial sync when it ran for every history row).
NEXT_HISTORY_ID = "nextval((SELECT pg_get_serial_sequence('change_history', 'id'))::regclass)"
# The commit empties STAGE (ON COMMIT DELETE ROWS truncates; a DELETE would leave dead rows
# that every later batch on the connection scans again).
STAGE = "rantai_outbox_stage"
STAGE_DDL = f"""CREATE TEMP TABLE IF NOT EXISTS {STAGE} (
    history_id int8 NOT NULL, entity text NOT NULL, entity_id int8 NOT NULL, op text NOT NULL,
    region_code text, opd_code text, fiscal_year int4, changed_fields text[] NOT NULL,
    source_id text) ON COMMIT DELETE ROWS"""

# An event's routing: the Pemda code, OPD code and fiscal year subscribers filter on.
Routing = tuple[str | None, str | None, int | None]


@dataclass(frozen=True)
class Parent:
    """How the outbox reports a row that has no GraphQL type of its own: as a change of its
    parent, by the parent's id, in the parent's field that shows the row. Always UPDATED,
    even when the row was created or deleted: the parent itself is still there. A row whose
    parent is not stored has no outbox row (there is nothing a client could resolve)."""

    field: str  # the parent's field, snake_case like every changed field
    # SELECT row id, parent id of the rows `x.id = ANY($1)` whose parent is stored.
    ids: str


class Logged(Protocol):
    """An entity as the change log names it (a sync `Binding` is one)."""

    @property
    def entity(self) -> str: ...  # change_history.entity

    @property
    def type_name(self) -> str: ...  # outbox.entity: the GraphQL type subscribers see

    @property
    def parent(self) -> Parent | None:
        """For a row with no GraphQL type of its own: the parent it is reported as."""
        ...

    @property
    def context(self) -> str:
        """Its routing: SELECT id, region code, OPD code, fiscal year of the rows
        `x.id = ANY($1)`; empty when every call gives the routing itself."""
        ...


@dataclass(frozen=True)
class LoggedEntity:
    """A `Logged` entity that is not synced (a discrepancy), routed by its writer."""

    entity: str
    type_name: str
    context: str = ""
    parent: Parent | None = None


@dataclass(frozen=True)
class Change:
    entity_id: int
    natural_key: str
    op: str  # CREATED UPDATED DELETED (LOADED: `record_loaded`)
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def changed_fields(change: Change) -> list[str]:
    return list((change.after if change.op != "DELETED" else change.before) or {})


def jsonable(value: Any) -> Any:
    """Values orjson does not write itself: money stays exact, as a string."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json(data: Mapping[str, Any] | None) -> str | None:
    return None if data is None else orjson.dumps(data, default=jsonable).decode()


# -- statements ------------------------------------------------------------------------


def history_insert(select: str) -> str:
    """change_history rows from `select`: (id, source, entity, entity id, natural key, op,
    before, after), ids from NEXT_HISTORY_ID in the order the changes are given."""
    return f"""INSERT INTO change_history
                (id, source_id, entity, entity_id, natural_key, op, before, after)
            {select}"""


def outbox_statement(
    rows: str, values: str, *, order: str, staged: bool, ctes: str = "", join: str = ""
) -> str:
    """One statement that writes an outbox row of `values` (in OUTBOX_COLUMNS' order) for
    each row of `rows` (over `ctes`), `join`ed to what routes it.

    `staged` (inside a sync batch): into STAGE, which FLUSH moves at commit. Otherwise into
    the outbox in `order` (history ids), after OUTBOX_LOCK is taken and the change feeds
    are woken: every row joins the CTE that does both, so the lock is held before the
    first outbox id is drawn.
    """
    if staged:
        head = f"WITH {ctes} " if ctes else ""
        return f"{head}INSERT INTO {STAGE} ({OUTBOX_COLUMNS}) SELECT {values} FROM {rows}{join}"
    lock = f"""lock AS MATERIALIZED (
            SELECT pg_advisory_xact_lock({OUTBOX_LOCK}) AS l, pg_notify('{CHANNEL}', '') AS w
        )"""
    return f"""WITH {ctes + ", " if ctes else ""}{lock}
        INSERT INTO outbox ({OUTBOX_COLUMNS})
        SELECT {values} FROM {rows} CROSS JOIN lock{join} ORDER BY {order}"""


@dataclass(frozen=True)
class Subject:
    """What the outbox rows of changes `v` (`v.e`: the changed row's id) name, as SQL."""

    ctes: str  # to append to the statement's CTEs ("" or ", par(…) AS (…)")
    join: str  # to append to its FROM
    entity_id: str
    op: str
    fields: str  # changed fields, text[]


def subject(logged: Logged, ids: str, op: str, fields: str) -> Subject:
    """The changed row itself, with the change's `op` and `fields` (SQL); or, for a row with
    a `Parent`, its parent, UPDATED in the field that shows the row, and no outbox row when
    the parent is not stored. `ids`: the parameter holding the changed rows' ids, whose
    rows must still exist (a deleted row is recorded before it goes)."""
    parent = logged.parent
    if parent is None:
        return Subject("", "", "v.e", op, fields)
    parents = re.sub(r"\$1\b", ids, parent.ids)
    return Subject(
        f", par(id, p) AS ({parents})",
        " JOIN par ON par.id = v.e",
        "par.p",
        "'UPDATED'",
        f"ARRAY['{parent.field}']::text[]",
    )


# The end of a sync batch: its staged outbox rows, then COMMIT, in one simple-query message.
FLUSH = f"{outbox_statement(STAGE, OUTBOX_COLUMNS, order='history_id', staged=False)}; COMMIT;"


def record_sql(logged: Logged, routed: bool, staged: bool) -> str:
    """History and outbox rows of a list of changes in one statement (see `record`);
    `routed`: the routing comes from the entity's context query over the changed ids;
    `staged`: the outbox rows go to STAGE."""
    context = re.sub(r"\$1\b", "$3", logged.context) if routed else ""
    routing = f", ctx(id, r, d, y) AS ({context})" if routed else ""
    route, join = (
        ("c.r::text, c.d::text, c.y::int4", " LEFT JOIN ctx c ON c.id = v.e")
        if routed
        else ("v.r, v.d, v.y", "")
    )
    seen = subject(logged, "$3", "v.o", "string_to_array(v.f, ',')")
    ctes = f"""v AS MATERIALIZED (
            SELECT v.*, {NEXT_HISTORY_ID} AS h
            FROM unnest($3::int8[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[],
                        $8::text[], $9::text[], $10::text[], $11::int4[])
                WITH ORDINALITY AS v(e, k, o, b, a, f, r, d, y, n)
            ORDER BY v.n
        ){routing}{seen.ctes},
        history AS (
            {history_insert("SELECT h, $1, $2, e, k, o, b, a FROM v ORDER BY h")}
        )"""
    values = f"v.h, $12, {seen.entity_id}, {seen.op}, {route}, {seen.fields}, $1"
    return outbox_statement(
        "v", values, order="v.h", staged=staged, ctes=ctes, join=join + seen.join
    )


async def record(
    conn: PgConnection,
    logged: Logged,
    changes: Sequence[Change],
    *,
    context: Mapping[int, Routing] | None = None,
    source_id: str | None = None,
    staged: bool = False,
) -> None:
    """Write the changes to change_history and the outbox, in commit order.

    One statement: history ids in the order of `changes`, then the outbox rows in the same
    order (`outbox_statement`). Without `context`, the routing is the entity's context
    query over the changed rows, in the same statement. The rows must still exist (a
    deleted row is recorded before it goes): that statement reads their routing, unless
    given, and their `Parent`.
    """
    if not changes:
        return
    routed = context is None and bool(logged.context)
    empty: Routing = (None, None, None)
    ctx = [(context or {}).get(c.entity_id, empty) for c in changes]
    await conn.execute(
        record_sql(logged, routed, staged),
        source_id,
        logged.entity,
        [c.entity_id for c in changes],
        [c.natural_key for c in changes],
        [c.op for c in changes],
        [_json(c.before) for c in changes],
        [_json(c.after) for c in changes],
        [",".join(changed_fields(c)) for c in changes],
        [x[0] for x in ctx],
        [x[1] for x in ctx],
        [x[2] for x in ctx],
        logged.type_name,
    )


_LOADED_HISTORY = history_insert(
    "SELECT h, $1, $2, 0, concat_ws('/', r, y), 'LOADED', NULL, "
    "jsonb_build_object('count', c, 'region_code', r, 'fiscal_year', y) FROM v ORDER BY h"
)


def loaded_sql(staged: bool) -> str:
    """LOADED history and outbox rows, one per Pemda and fiscal year of a baseline load:
    $1 source, $2 entity, $3 Pemda codes, $4 fiscal years, $5 counts, $6 GraphQL type."""
    ctes = f"""v AS MATERIALIZED (
            SELECT v.*, {NEXT_HISTORY_ID} AS h
            FROM unnest($3::text[], $4::int4[], $5::int8[]) WITH ORDINALITY AS v(r, y, c, n)
            ORDER BY v.n
        ),
        history AS ({_LOADED_HISTORY})"""
    values = "v.h, $6, 0, 'LOADED', v.r, NULL, v.y, '{}'::text[], $1"
    return outbox_statement("v", values, order="v.h", staged=staged, ctes=ctes)


async def record_loaded(
    conn: PgConnection,
    logged: Logged,
    groups: Sequence[tuple[str | None, int | None, int]],
    *,
    source_id: str | None,
    staged: bool = False,
) -> None:
    """A baseline load's LOADED events: (Pemda code, fiscal year, rows) per group. Entity
    id 0: no one row; subscribers re-query the entity (the count says how many rows)."""
    if not groups:
        return
    await conn.execute(
        loaded_sql(staged),
        source_id,
        logged.entity,
        [g[0] for g in groups],
        [g[1] for g in groups],
        [g[2] for g in groups],
        logged.type_name,
    )

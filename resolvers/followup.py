"""Tindak lanjut: assigning a ketimpangan to an OPD, its answer, and the assigner's review,
as `Work` for `resolvers.mutations.mutate` (one transaction with the audit record and the
idempotency receipt), and the reads of a follow-up's thread and counts.

Who may do what, beyond the roles each mutation names (schema/mutation_followup.py):
- assign: the province; an `inspector` or `regency` key within its Pemda (a province code
  covers its regencies); the OPD must be one of the finding's Pemda;
- respond: an `opd` key, for its own OPD only;
- review: the province, or the assigner's own office (same role and Pemda as the key that
  assigned it).
Every change takes the follow-up's `version` the client last saw (0: none yet): another is
CONFLICT, so two reviewers never overwrite each other unseen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Float,
    Numeric,
    Table,
    and_,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.types import Date

from hub.auth import Role, Viewer
from hub.db import PgConnection
from hub.discrepancies.followup import add_action, log
from hub.errors import BadUserInput, Conflict, Forbidden, NotFound
from hub.events.broker import OUTBOX
from hub.reference.clock import PROVINCE_ZONE, province_today
from hub.store.codec import parse_global_id
from hub.store.models.followup import (
    ACCEPTED,
    ANSWERED,
    ASSIGNED,
    AWAITING_ANSWER,
    CLOSED,
    RETURNED,
)
from hub.store.relations import T
from resolvers.mutations import Change, Work

MAX_NOTE = 4000
MAX_LINKS = 10
MAX_LINK = 500
LINK = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


def today() -> date:
    """The day due dates are compared with: the province's, as `overdue_sql`'s."""
    return province_today()


def _texts(*values: str) -> list[Any]:
    """Constant texts written into the statement (no parameters: the compiled path
    keeps a statement for every request, hub/serving/compiled)."""
    return [literal_column("'" + v.replace("'", "''") + "'") for v in values]


def overdue_sql(follow_up: Table) -> Any:
    """A follow-up that waits for the OPD's answer past its due date, as SQL."""
    local_today = cast(func.timezone(_texts(PROVINCE_ZONE.key)[0], func.now()), Date)
    return and_(follow_up.c.state.in_(_texts(*AWAITING_ANSWER)), follow_up.c.due_on < local_today)


def is_overdue(row: Any) -> bool:
    return row.state in AWAITING_ANSWER and row.due_on < today()


def covers(viewer: Viewer, region_code: str) -> bool:
    """Whether an assigner's key reaches a finding of Pemda `region_code`."""
    if viewer.role is Role.PROVINCE or (
        viewer.role is Role.INSPECTOR and viewer.region_code is None
    ):
        return True
    mine = viewer.region_code
    return mine is not None and (region_code == mine or region_code.startswith(mine + "."))


def discrepancy_pk(value: str, argument: str = "input.discrepancyId") -> int:
    type_name, pk = parse_global_id(value)
    if type_name != "Discrepancy" or pk < 0:
        raise NotFound(f"{value!r} is not the id of a ketimpangan.", argument=argument)
    return pk


def _text(value: str | None, argument: str, *, required: bool) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise BadUserInput(f"`{argument}` must not be empty.", argument=argument)
    if len(text) > MAX_NOTE:
        raise BadUserInput(f"`{argument}` is over {MAX_NOTE} characters.", argument=argument)
    return text or None


MAX_DUE_DAYS = 366  # a due date within a year: past it, a typo (9999-12-31)


def _due(value: date, argument: str) -> date:
    if value < today():
        raise BadUserInput(
            f"`{argument}` {value.isoformat()} is in the past; a due date is today or later.",
            argument=argument,
        )
    if (value - today()).days > MAX_DUE_DAYS:
        raise BadUserInput(
            f"`{argument}` {value.isoformat()} is more than {MAX_DUE_DAYS} days ahead.",
            argument=argument,
        )
    return value


def _links(values: list[str]) -> list[dict[str, str]]:
    if len(values) > MAX_LINKS:
        raise BadUserInput(f"At most {MAX_LINKS} links.", argument="input.links")
    for i, link in enumerate(values):
        if len(link) > MAX_LINK or not LINK.match(link):
            raise BadUserInput(
                f"Link {link[:80]!r} is not an http(s) address.", argument=f"input.links[{i}]"
            )
    return [{"kind": "link", "value": v} for v in values]


@dataclass
class Locked:
    finding: Any  # the discrepancy, with region_code
    follow_up: Any | None  # its follow-up, with opd_code, or None


Sees = Callable[[Any, Any], bool]  # (finding, its follow-up or None) → within reach


async def _lock(conn: PgConnection, pk: int, version: int, sees: Sees) -> Locked:
    """The finding and its follow-up, locked. One out of the caller's reach is NOT_FOUND as
    an absent one is, before its version is compared: neither its existence nor its
    follow-up's progress shows through a refusal."""
    finding = await conn.fetchrow(
        """SELECT d.*, rg.code AS region_code, o.code AS finding_opd_code FROM discrepancy d
           JOIN region rg ON rg.id = d.region_id LEFT JOIN opd o ON o.id = d.opd_id
           WHERE d.id = $1 FOR UPDATE OF d""",
        pk,
    )
    follow_up = None
    if finding is not None:
        follow_up = await conn.fetchrow(
            """SELECT f.*, o.code AS opd_code, rg.code AS opd_region_code FROM follow_up f
               JOIN opd o ON o.id = f.opd_id JOIN region rg ON rg.id = o.region_id
               WHERE f.discrepancy_id = $1 FOR UPDATE OF f""",
            pk,
        )
    if finding is None or not sees(finding, follow_up):
        raise NotFound("No such ketimpangan.", argument="input.discrepancyId")
    current = follow_up["version"] if follow_up is not None else 0
    if version != current:
        raise Conflict(
            f"The follow-up changed since version {version}: it is at version {current}. "
            "Read it again; nothing was changed.",
            argument="input.version",
            currentVersion=current,
        )
    return Locked(finding, follow_up)


def _visible_letters(viewer: Viewer) -> str:
    """SQL: the letters the viewer may read (an OPD: those of its contracts and tenders), so
    that an answer can cite no other and a refusal tells nothing of the others."""
    from sqlalchemy.dialects import postgresql

    predicate = viewer.scope.predicate(T["letter"])
    if predicate is None:
        return "true"
    dialect: Any = postgresql.dialect()  # type: ignore[no-untyped-call]
    return str(predicate.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


async def _letters(
    conn: PgConnection, viewer: Viewer, finding: Any, numbers: list[str]
) -> list[dict[str, Any]]:
    """The letters an answer cites, by number, among the finding's Pemda's letters that the
    viewer may read."""
    refs = []
    visible = _visible_letters(viewer) if numbers else "true"
    for i, number in enumerate(numbers):
        letter_id = await conn.fetchval(
            f"SELECT id FROM letter WHERE region_id = $1 AND number = $2 AND ({visible})",
            finding["region_id"],
            number.strip(),
        )
        if letter_id is None:
            raise NotFound(
                f"No letter {number!r} in the e-office of {finding['region_code']}.",
                argument=f"input.letters[{i}]",
            )
        refs.append({"kind": "letter", "value": number.strip(), "id": letter_id})
    return refs


def _result(follow_up_id: int, discrepancy_id: int) -> dict[str, Any]:
    return {"followUp": follow_up_id, "discrepancy": discrepancy_id}


def assign(
    viewer: Viewer, discrepancy_id: str, opd_code: str, due_on: date, note: str, version: int
) -> Work:
    pk = discrepancy_pk(discrepancy_id)
    due = _due(due_on, "input.dueOn")
    text = _text(note, "input.note", required=True)

    async def work(conn: PgConnection) -> Change:
        locked = await _lock(conn, pk, version, lambda d, _: covers(viewer, d["region_code"]))
        finding, previous = locked.finding, locked.follow_up
        if finding["resolved_at"] is not None:
            raise Conflict(
                "This ketimpangan is resolved: the data no longer shows it; nothing to assign.",
                argument="input.discrepancyId",
            )
        if previous is not None and previous["state"] != CLOSED:
            raise Conflict(
                f"This ketimpangan is already followed up (state {previous['state']}).",
                argument="input.discrepancyId",
            )
        opd_id = await conn.fetchval(
            "SELECT id FROM opd WHERE region_id = $1 AND code = $2",
            finding["region_id"],
            opd_code,
        )
        if opd_id is None:
            raise NotFound(
                f"No OPD {opd_code!r} in Pemda {finding['region_code']}.", argument="input.opdCode"
            )
        assigner = (viewer.actor, viewer.role.value, viewer.region_code)
        follow_up_id = await conn.fetchval(
            """INSERT INTO follow_up AS f (discrepancy_id, region_id, opd_id, fiscal_year,
                   state, due_on, note, assigned_by, assigner_role, assigner_region, version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)
               ON CONFLICT (discrepancy_id) DO UPDATE SET opd_id = excluded.opd_id,
                   state = excluded.state, due_on = excluded.due_on, note = excluded.note,
                   assigned_by = excluded.assigned_by, assigner_role = excluded.assigner_role,
                   assigner_region = excluded.assigner_region, assigned_at = now(),
                   answered_at = NULL, reviewed_at = NULL, closed_at = NULL,
                   updated_at = now(), version = f.version + 1
               RETURNING id""",
            pk, finding["region_id"], opd_id, finding["fiscal_year"], ASSIGNED, due, text,
            *assigner,
        )  # fmt: skip
        await add_action(conn, follow_up_id, ASSIGNED, viewer.actor, viewer.role.value, text, due)
        after = {"state": ASSIGNED, "opd": opd_code, "due_on": due.isoformat()}
        op = "CREATED" if previous is None else "UPDATED"
        before = None if previous is None else {"state": previous["state"]}
        await log(conn, [(follow_up_id, pk, op, before, {**after, "version": version + 1})])
        detail = {"discrepancy": pk, "opd": opd_code, "dueOn": due.isoformat()}
        return Change(_result(follow_up_id, pk), "followup.assign", detail, [(OUTBOX, "")])

    return work


def respond(
    viewer: Viewer,
    discrepancy_id: str,
    explanation: str,
    links: list[str],
    letters: list[str],
    version: int,
) -> Work:
    pk = discrepancy_pk(discrepancy_id)
    text = _text(explanation, "input.explanation", required=True)
    link_refs = _links(links)
    if len(letters) > MAX_LINKS:
        raise BadUserInput(f"At most {MAX_LINKS} letters.", argument="input.letters")

    mine = (viewer.region_code, viewer.opd_code)

    def sees(finding: Any, follow_up: Any) -> bool:
        """Its own OPD's finding, or one its OPD was asked to explain."""
        if follow_up is not None:
            return (follow_up["opd_region_code"], follow_up["opd_code"]) == mine
        return (finding["region_code"], finding["finding_opd_code"]) == mine

    async def work(conn: PgConnection) -> Change:
        locked = await _lock(conn, pk, version, sees)
        follow_up = locked.follow_up
        if follow_up is None:
            raise Conflict(
                "This ketimpangan was not assigned to an OPD; there is nothing to answer.",
                argument="input.discrepancyId",
            )
        if follow_up["state"] not in AWAITING_ANSWER:
            raise Conflict(
                f"This follow-up is {follow_up['state']}: it waits for no answer.",
                argument="input.discrepancyId",
            )
        refs = [*await _letters(conn, viewer, locked.finding, letters), *link_refs]
        await conn.execute(
            """UPDATE follow_up SET state = $2, answered_at = COALESCE(answered_at, now()),
                   updated_at = now(), version = version + 1 WHERE id = $1""",
            follow_up["id"],
            ANSWERED,
        )
        await add_action(
            conn, follow_up["id"], ANSWERED, viewer.actor, viewer.role.value, text, refs=refs
        )
        after = {"state": ANSWERED, "version": version + 1}
        await log(conn, [(follow_up["id"], pk, "UPDATED", {"state": follow_up["state"]}, after)])
        detail = {"discrepancy": pk, "references": [r["value"] for r in refs]}
        return Change(_result(follow_up["id"], pk), "followup.respond", detail, [(OUTBOX, "")])

    return work


def review(
    viewer: Viewer,
    discrepancy_id: str,
    accept: bool,
    note: str | None,
    due_on: date | None,
    version: int,
) -> Work:
    pk = discrepancy_pk(discrepancy_id)
    text = _text(note, "input.note", required=not accept)
    due = _due(due_on, "input.dueOn") if due_on is not None else None
    if accept and due is not None:
        raise BadUserInput("`dueOn` is for a returned answer only.", argument="input.dueOn")

    async def work(conn: PgConnection) -> Change:
        locked = await _lock(conn, pk, version, lambda d, _: covers(viewer, d["region_code"]))
        follow_up = locked.follow_up
        if follow_up is None:
            raise Conflict(
                "This ketimpangan was not assigned to an OPD; there is nothing to review.",
                argument="input.discrepancyId",
            )
        office = (follow_up["assigner_role"], follow_up["assigner_region"])
        if viewer.role is not Role.PROVINCE and (viewer.role.value, viewer.region_code) != office:
            raise Forbidden(
                "Only the province or the office that assigned this follow-up "
                f"({office[0]}{' ' + office[1] if office[1] else ''}) may review its answer."
            )
        if follow_up["state"] != ANSWERED:
            raise Conflict(
                f"This follow-up is {follow_up['state']}: there is no answer to review.",
                argument="input.discrepancyId",
            )
        state = ACCEPTED if accept else RETURNED
        await conn.execute(
            """UPDATE follow_up SET state = $2, reviewed_at = now(), updated_at = now(),
                   due_on = COALESCE($3, due_on), version = version + 1 WHERE id = $1""",
            follow_up["id"],
            state,
            due,
        )
        await add_action(conn, follow_up["id"], state, viewer.actor, viewer.role.value, text, due)
        after = {"state": state, "version": version + 1}
        await log(conn, [(follow_up["id"], pk, "UPDATED", {"state": ANSWERED}, after)])
        detail = {"discrepancy": pk, "decision": state}
        return Change(_result(follow_up["id"], pk), "followup.review", detail, [(OUTBOX, "")])

    return work


# --------------------------------------------------------------------------- reads


def follow_up_conditions(d: Any, state: str | None, overdue: bool | None) -> list[Any]:
    """The ketimpangan filter's `followUpState` and `overdue`, as conditions on `d` (the
    compiled path declines them: the ordinary path answers)."""
    f = T["follow_up"]
    conditions = []
    if state is not None:
        conditions.append(d.c.id.in_(select(f.c.discrepancy_id).where(f.c.state == state)))
    if overdue is not None:
        late = d.c.id.in_(select(f.c.discrepancy_id).where(overdue_sql(f)))
        conditions.append(late if overdue else ~late)
    return conditions


SUMMARY_FIELDS = ("assigned", "awaiting", "answered", "accepted", "overdue")


def summary_columns(f: Any) -> dict[str, Any]:
    """A follow-up summary's columns over follow-up rows `f`, named as FollowUpSummary's
    fields are (schema/followup.py); the median rounded here, for the loader and the
    compiled path alike."""
    days = func.extract("epoch", f.c.answered_at - f.c.assigned_at) / 86400
    median = func.percentile_cont(0.5).within_group(days)
    return {
        "assigned": func.count(),
        "awaiting": func.count().filter(f.c.state.in_(_texts(*AWAITING_ANSWER))),
        "answered": func.count(f.c.answered_at),
        "accepted": func.count().filter(f.c.state == _texts(ACCEPTED)[0]),
        "overdue": func.count().filter(overdue_sql(f)),
        "median_days_to_answer": cast(func.round(cast(median, Numeric), 2), Float),
    }


def summary_owner(level: str, f: Any, key_id: Any) -> tuple[Any, Any]:
    """(the FROM over follow-ups `f`, the condition choosing those of `key_id`): an OPD's,
    or a Pemda's and its regencies' and cities'."""
    if level == "opd":
        return f, f.c.opd_id == key_id
    rg = T["region"].alias("fu_rg")
    return f.join(rg, rg.c.id == f.c.region_id), or_(rg.c.id == key_id, rg.c.parent_id == key_id)


def summary_loader(level: str) -> Any:
    """A loader factory (`Loaders.custom`) of follow-up counts per (OPD or Pemda id, fiscal
    year), one scoped statement per batch; a Pemda's counts include its regencies'."""
    from strawberry.dataloader import DataLoader

    def factory(access: Any) -> DataLoader[tuple[int, int], dict[str, Any]]:
        async def load(keys: list[tuple[int, int]]) -> list[dict[str, Any]]:
            f = T["follow_up"]
            ids = sorted({k[0] for k in keys})
            kv = select(func.unnest(cast(ids, ARRAY(BigInteger))).label("id")).subquery("kv")
            frm, mine = summary_owner(level, f, kv.c.id)
            columns = [e.label(name) for name, e in summary_columns(f).items()]
            stmt = access.restrict(
                select(kv.c.id.label("k"), f.c.fiscal_year.label("y"), *columns)
                .select_from(frm.join(kv, mine))
                .where(f.c.fiscal_year.in_(sorted({k[1] for k in keys})))
                .group_by(kv.c.id, f.c.fiscal_year),
                f,
            )
            found = {(r.k, r.y): dict(r._mapping) for r in await access.all(stmt)}
            empty = dict.fromkeys(SUMMARY_FIELDS, 0) | {"median_days_to_answer": None}
            return [found.get(k, empty) for k in keys]

        return DataLoader(load)

    return factory

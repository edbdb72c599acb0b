"""Tindak lanjut over HTTP GraphQL: a ketimpangan assigned to an OPD, answered by that OPD,
returned and accepted by its assigner; who may do what, for every role; typed errors that
change nothing; idempotent retries; the audit chain, history and live events; overdue
follow-ups and the counts per Pemda and OPD; closed by the data when the finding is
resolved."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from hub.auth import keys
from hub.auth.audit import verify
from hub.discrepancies.engine import DiscrepancyEngine
from hub.reference.clock import province_today
from hub.store.codec import encode_cursor, global_id
from tests.conftest import Server
from tests.test_request_path import Door, _door, code
from tests.test_security import FY, REGENCY, SECRET_KEY

OPD = "1.02.0.00.0.00.01.0000"  # the opd key's OPD, in 53.01
TOMORROW = (province_today() + timedelta(days=1)).isoformat()
NEXT_WEEK = (province_today() + timedelta(days=7)).isoformat()
FOLLOW_UP = "state version dueOn overdue note assignee { code } actions { kind role note "
FOLLOW_UP += "dueOn references { kind value } }"

ASSIGN = f"""mutation A($input: AssignDiscrepancyInput!, $idem: String) {{
  assignDiscrepancy(input: $input, idempotencyKey: $idem) {{
    followUp {{ id {FOLLOW_UP} }} discrepancy {{ id followUp {{ state }} }} }} }}"""
RESPOND = f"""mutation R($input: RespondToDiscrepancyInput!, $idem: String) {{
  respondToDiscrepancy(input: $input, idempotencyKey: $idem) {{ followUp {{ {FOLLOW_UP} }} }} }}"""
REVIEW = f"""mutation V($input: ReviewDiscrepancyResponseInput!, $idem: String) {{
  reviewDiscrepancyResponse(input: $input, idempotencyKey: $idem) {{
    followUp {{ {FOLLOW_UP} }} }} }}"""
FINDING = f"""query F($id: ID!) {{ node(id: $id) {{ ... on Discrepancy {{
  resolvedAt followUp {{ {FOLLOW_UP} }} }} }} }}"""


class Findings:
    """Open ketimpangan of the seeded store, handed out one per test step."""

    def __init__(self, rows: list[asyncpg.Record]) -> None:
        self.rows = list(rows)

    def take(self, region: str = REGENCY, opd: str | None = OPD) -> str:
        for i, row in enumerate(self.rows):
            if row["region"] == region and (opd is None or row["opd"] == opd):
                del self.rows[i]
                return global_id("Discrepancy", row["id"])
        raise AssertionError(f"no finding left in {region} {opd}")


@pytest.fixture(scope="module")
async def door(server: Server) -> AsyncIterator[Door]:
    async for d in _door(server, "rantai_followup"):
        conn = await asyncpg.connect(d.dsn)
        try:
            other_opd = await conn.fetchval(
                "SELECT o.code FROM opd o JOIN region r ON r.id = o.region_id "
                "WHERE r.code = $1 AND o.code <> $2 ORDER BY o.code LIMIT 1",
                REGENCY,
                OPD,
            )
            other_region = await conn.fetchval(
                "SELECT code FROM region WHERE parent_id IS NOT NULL AND code <> $1 "
                "ORDER BY code LIMIT 1",
                REGENCY,
            )
            made = {
                "admin": ("admin", None, None),
                "inspector": ("inspector", None, None),
                "inspector-53.01": ("inspector", REGENCY, None),
                "inspector-other": ("inspector", other_region, None),
                "regency-other": ("regency", other_region, None),
                "opd-other": ("opd", REGENCY, other_opd),
            }
            for name, (role, region, opd) in made.items():
                d.keys[name] = (await keys.create(conn, SECRET_KEY, role, region, opd))[0]
            # Several open findings per OPD: the seeded one, and more for the steps.
            await conn.execute(
                """INSERT INTO discrepancy (rule, subject_key, severity, message, fiscal_year,
                       region_id, opd_id, evidence)
                   SELECT 'PLAN_WITHOUT_BUDGET', 'more/' || o.id || '/' || n, 'WARNING', 'uji',
                       $1, o.region_id, o.id, '[]'
                   FROM opd o CROSS JOIN generate_series(1, 60) n""",
                FY,
            )
            rows = await conn.fetch(
                """SELECT d.id, r.code AS region, o.code AS opd FROM discrepancy d
                   JOIN region r ON r.id = d.region_id JOIN opd o ON o.id = d.opd_id
                   WHERE d.resolved_at IS NULL ORDER BY d.id"""
            )
        finally:
            await conn.close()
        d.findings = Findings(rows)  # type: ignore[attr-defined]
        yield d


def findings(door: Door) -> Findings:
    found: Findings = door.findings  # type: ignore[attr-defined]
    return found


async def fetch(door: Door, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(door.dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def assign_input(finding: str, version: int = 0, **more: Any) -> dict[str, Any]:
    return {"discrepancyId": finding, "opdCode": OPD, "dueOn": NEXT_WEEK,
            "note": "Mohon dijelaskan.", "version": version, **more}  # fmt: skip


async def mutation(
    door: Door, document: str, values: dict[str, Any], key: str | None, idem: str | None = None
) -> dict[str, Any]:
    return await door.post({"query": document, "variables": {"input": values, "idem": idem}}, key)


def payload(answer: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in answer, answer
    [value] = answer["data"].values()
    assert isinstance(value, dict)
    return value


async def assigned(door: Door, key: str = "province", opd: str = OPD) -> str:
    finding = findings(door).take(opd=opd)
    answer = await mutation(door, ASSIGN, assign_input(finding, opdCode=opd), door.keys[key])
    assert payload(answer)["followUp"]["state"] == "ASSIGNED"
    return finding


async def answered(door: Door, key: str = "province") -> str:
    finding = await assigned(door, key)
    values = {"discrepancyId": finding, "explanation": "Sudah dibayar.", "version": 1}
    assert payload(await mutation(door, RESPOND, values, door.keys["opd"]))
    return finding


# --------------------------------------------------------------------------- the flow


async def test_a_finding_is_assigned_answered_returned_answered_again_and_accepted(
    door: Door,
) -> None:
    finding = findings(door).take()
    made = payload(await mutation(door, ASSIGN, assign_input(finding), door.keys["province"]))
    follow_up = made["followUp"]
    assert (follow_up["state"], follow_up["version"], follow_up["dueOn"]) == (
        "ASSIGNED", 1, NEXT_WEEK,
    )  # fmt: skip
    assert follow_up["assignee"]["code"] == OPD
    assert follow_up["overdue"] is False
    assert made["discrepancy"]["followUp"]["state"] == "ASSIGNED"

    answer = {"discrepancyId": finding, "explanation": "SP2D menunggu BAST.", "version": 1,
              "links": ["https://eoffice.example.go.id/surat/12"]}  # fmt: skip
    follow_up = payload(await mutation(door, RESPOND, answer, door.keys["opd"]))["followUp"]
    assert (follow_up["state"], follow_up["version"]) == ("ANSWERED", 2)

    back = {"discrepancyId": finding, "accept": False, "note": "Lampirkan BAST.",
            "dueOn": TOMORROW, "version": 2}  # fmt: skip
    follow_up = payload(await mutation(door, REVIEW, back, door.keys["province"]))["followUp"]
    assert (follow_up["state"], follow_up["version"], follow_up["dueOn"]) == (
        "RETURNED", 3, TOMORROW,
    )  # fmt: skip

    again = {"discrepancyId": finding, "explanation": "BAST terlampir.", "version": 3}
    assert (
        payload(await mutation(door, RESPOND, again, door.keys["opd"]))["followUp"]["version"] == 4
    )
    accept = {"discrepancyId": finding, "accept": True, "version": 4}
    payload(await mutation(door, REVIEW, accept, door.keys["province"]))

    read = await door.post({"query": FINDING, "variables": {"id": finding}}, door.keys["opd"])
    thread = read["data"]["node"]["followUp"]
    assert (thread["state"], thread["version"]) == ("ACCEPTED", 5)
    assert [(a["kind"], a["role"]) for a in thread["actions"]] == [
        ("ASSIGNED", "province"), ("ANSWERED", "opd"), ("RETURNED", "province"),
        ("ANSWERED", "opd"), ("ACCEPTED", "province"),
    ]  # fmt: skip
    assert thread["actions"][1]["note"] == "SP2D menunggu BAST."
    assert thread["actions"][1]["references"] == [
        {"kind": "link", "value": "https://eoffice.example.go.id/surat/12"}
    ]
    assert thread["actions"][2]["note"] == "Lampirkan BAST."

    pk = int(finding and (await fetch(door, "SELECT max(id) AS id FROM follow_up"))[0]["id"])
    history = await fetch(
        door, "SELECT op, after FROM change_history WHERE entity = 'follow_up' AND "
        "entity_id = $1 ORDER BY id", pk,
    )  # fmt: skip
    states = [json.loads(h["after"])["state"] for h in history]
    assert states == ["ASSIGNED", "ANSWERED", "RETURNED", "ANSWERED", "ACCEPTED"]
    outbox = await fetch(
        door, "SELECT entity, region_code, opd_code FROM outbox WHERE entity = "
        "'DiscrepancyFollowUp' AND entity_id = $1", pk,
    )  # fmt: skip
    assert {tuple(r) for r in outbox} == {("DiscrepancyFollowUp", REGENCY, OPD)}
    kinds = [r["kind"] for r in await door.audit() if r["kind"].startswith("followup.")]
    assert kinds[-5:] == ["followup.assign", "followup.respond", "followup.review",
                          "followup.respond", "followup.review"]  # fmt: skip


async def test_every_action_reaches_subscribers_of_both_feeds(door: Door) -> None:
    [position] = await fetch(door, "SELECT COALESCE(max(id), 0) AS p FROM outbox")
    after = encode_cursor("change", [position["p"]])
    finding = await assigned(door)
    event = await door.subscribe(
        "subscription E($after: String) { discrepancyEvents(after: $after) { raised "
        "followUpChanged discrepancy { id followUp { state } } } }",
        {"after": after},
        key=door.keys["opd"],
    )
    got = event["data"]["discrepancyEvents"]
    assert got["followUpChanged"] is True
    assert got["raised"] is False
    assert got["discrepancy"] == {"id": finding, "followUp": {"state": "ASSIGNED"}}
    change = await door.subscribe(
        "subscription C($after: String) { changes(after: $after, filter: {entities: "
        '["DiscrepancyFollowUp"]}) { entity op regionCode opdCode changedFields } }',
        {"after": after},
        key=door.keys["regency"],
    )
    assert change["data"]["changes"] == {
        "entity": "DiscrepancyFollowUp", "op": "CREATED", "regionCode": REGENCY,
        "opdCode": OPD, "changedFields": ["state", "dueOn", "version"],
    }  # fmt: skip


async def test_discrepancy_events_are_filtered_by_follow_up_state_and_overdue(door: Door) -> None:
    [position] = await fetch(door, "SELECT COALESCE(max(id), 0) AS p FROM outbox")
    after = encode_cursor("change", [position["p"]])
    answered_first = await answered(door)  # its events come first: assigned, answered
    waiting = await assigned(door)
    document = (
        "subscription E($after: String, $filter: DiscrepancyFilter) { discrepancyEvents("
        "after: $after, filter: $filter) { discrepancy { id followUp { state overdue } } } }"
    )
    for filter_, expected in (
        ({"followUpState": "ASSIGNED"}, (waiting, "ASSIGNED")),
        ({"followUpState": "ANSWERED"}, (answered_first, "ANSWERED")),
        ({"overdue": False, "followUpState": "ASSIGNED"}, (waiting, "ASSIGNED")),
    ):
        event = await door.subscribe(
            document, {"after": after, "filter": filter_}, key=door.keys["province"]
        )
        got = event["data"]["discrepancyEvents"]["discrepancy"]
        assert (got["id"], got["followUp"]["state"]) == expected, filter_
        assert got["followUp"]["overdue"] is False


# --------------------------------------------------------------------------- who may do what

# role → (HTTP status, error code or None) for assigning a finding of OPD in 53.01; a
# finding out of a key's reach is NOT_FOUND, as an absent one is
ASSIGNERS = {
    "province": None, "inspector": None, "inspector-53.01": None, "regency": None,
    "inspector-other": (200, "NOT_FOUND"), "regency-other": (200, "NOT_FOUND"),
    "opd": (403, "FORBIDDEN"), "opd-other": (403, "FORBIDDEN"), "admin": (403, "FORBIDDEN"),
    "public": (403, "FORBIDDEN"),
}  # fmt: skip


@pytest.mark.parametrize("role", list(ASSIGNERS))
async def test_who_may_assign(door: Door, role: str) -> None:
    finding = findings(door).take()
    key = door.keys.get(role)
    answer = await mutation(door, ASSIGN, assign_input(finding), key)
    expected = ASSIGNERS[role]
    if expected is None:
        assert payload(answer)["followUp"]["state"] == "ASSIGNED"
        return
    assert (answer["status"], code(answer)) == expected
    assert not await fetch(
        door, "SELECT 1 FROM follow_up WHERE discrepancy_id = $1", int(_pk(finding))
    )


RESPONDERS = {
    "opd": None, "opd-other": (200, "NOT_FOUND"), "province": (403, "FORBIDDEN"),
    "inspector": (403, "FORBIDDEN"), "regency": (403, "FORBIDDEN"),
    "admin": (403, "FORBIDDEN"), "public": (403, "FORBIDDEN"),
}  # fmt: skip


@pytest.mark.parametrize("role", list(RESPONDERS))
async def test_only_the_assigned_opd_answers(door: Door, role: str) -> None:
    finding = await assigned(door)
    values = {"discrepancyId": finding, "explanation": "Penjelasan.", "version": 1}
    answer = await mutation(door, RESPOND, values, door.keys.get(role))
    expected = RESPONDERS[role]
    if expected is None:
        assert payload(answer)["followUp"]["state"] == "ANSWERED"
        return
    assert (answer["status"], code(answer)) == expected
    [row] = await fetch(door, "SELECT state, version FROM follow_up WHERE discrepancy_id = $1",
                        int(_pk(finding)))  # fmt: skip
    assert tuple(row) == ("ASSIGNED", 1)


async def test_a_finding_out_of_reach_answers_as_an_absent_one_whatever_the_version(
    door: Door,
) -> None:
    """Its version is compared only once it is within reach: a key of another Pemda learns
    neither that it exists nor how far its follow-up went."""
    finding = await assigned(door)
    absent = global_id("Discrepancy", 10**9)
    for key in ("regency-other", "inspector-other"):
        answers = []
        for target in (finding, absent):
            for version in (0, 1, 7):
                values = {"discrepancyId": target, "accept": True, "version": version}
                answer = await mutation(door, REVIEW, values, door.keys[key])
                error = answer["errors"][0]
                answers.append((error["extensions"]["code"], error["message"]))
        assert set(answers) == {("NOT_FOUND", "No such ketimpangan.")}, (key, answers)
    values = {"discrepancyId": finding, "explanation": "x", "version": 0}
    other = await mutation(door, RESPOND, values, door.keys["opd-other"])
    assert code(other) == "NOT_FOUND"


# (assigner, reviewer) → error code or None
REVIEWERS = {
    ("regency", "regency"): None, ("regency", "province"): None,
    ("inspector-53.01", "inspector-53.01"): None, ("province", "inspector"): "FORBIDDEN",
    ("regency", "inspector-53.01"): "FORBIDDEN", ("inspector", "regency"): "FORBIDDEN",
    ("regency", "opd"): "FORBIDDEN", ("regency", "admin"): "FORBIDDEN",
    ("regency", "public"): "FORBIDDEN",
}  # fmt: skip


@pytest.mark.parametrize(("assigner", "reviewer"), list(REVIEWERS))
async def test_only_the_province_or_the_assigners_office_reviews(
    door: Door, assigner: str, reviewer: str
) -> None:
    finding = await answered(door, assigner)
    values = {"discrepancyId": finding, "accept": True, "version": 2}
    answer = await mutation(door, REVIEW, values, door.keys.get(reviewer))
    expected = REVIEWERS[(assigner, reviewer)]
    if expected is None:
        assert payload(answer)["followUp"]["state"] == "ACCEPTED"
        return
    assert code(answer) == expected
    [row] = await fetch(door, "SELECT state FROM follow_up WHERE discrepancy_id = $1",
                        int(_pk(finding)))  # fmt: skip
    assert row["state"] == "ANSWERED"


async def test_the_public_sees_none_of_it(door: Door) -> None:
    finding = await assigned(door)
    read = await door.post({"query": FINDING, "variables": {"id": finding}})
    assert read["data"]["node"] is None
    summary = f"followUps(fiscalYear: {FY}) {{ assigned }}"
    counts = await door.post({"query": f'{{ region(code: "{REGENCY}") {{ {summary} }} }}'})
    assert code(counts) == "FORBIDDEN"
    assert counts["data"]["region"]["followUps"] is None
    live = await door.subscribe(
        'subscription { changes(filter: {entities: ["DiscrepancyFollowUp"]}) { entity } }'
    )
    assert code(live) == "FORBIDDEN"


async def test_an_opd_sees_the_findings_it_must_answer_and_not_others(door: Door) -> None:
    finding = await assigned(door)
    listed = await door.post(
        {
            "query": "{ discrepancies(filter: {followUpState: ASSIGNED}, first: 200) { edges { "
            "node { id followUp { assignee { code } } } } } }"
        },
        door.keys["opd"],
    )
    nodes = [e["node"] for e in listed["data"]["discrepancies"]["edges"]]
    assert finding in [n["id"] for n in nodes]
    assert {n["followUp"]["assignee"]["code"] for n in nodes} == {OPD}
    other = await door.post(
        {"query": FINDING, "variables": {"id": finding}}, door.keys["opd-other"]
    )
    assert other["data"]["node"] is None


# --------------------------------------------------------------------------- bad input


async def test_bad_input_is_refused_with_its_field_and_changes_nothing(door: Door) -> None:
    province = door.keys["province"]
    finding = findings(door).take()
    past = (date.fromisoformat(TOMORROW) - timedelta(days=3)).isoformat()
    cases = [
        (assign_input(finding, dueOn=past), "BAD_USER_INPUT", "input.dueOn"),
        (assign_input(finding, dueOn="9999-12-31"), "BAD_USER_INPUT", "input.dueOn"),
        (assign_input(finding, note="  "), "BAD_USER_INPUT", "input.note"),
        (assign_input(finding, opdCode="9.99.0.00.0.00.01.0000"), "NOT_FOUND", "input.opdCode"),
        (assign_input(finding, version=3), "CONFLICT", "input.version"),
        (assign_input(global_id("Discrepancy", 10**9)), "NOT_FOUND", "input.discrepancyId"),
        (assign_input(global_id("Contract", 1)), "NOT_FOUND", "input.discrepancyId"),
        (assign_input("not-an-id"), "BAD_ID", None),
    ]
    for values, expected, argument in cases:
        answer = await mutation(door, ASSIGN, values, province)
        assert code(answer) == expected, (values, answer)
        if argument is not None:
            assert answer["errors"][0]["extensions"]["argument"] == argument
    assert not await fetch(door, "SELECT 1 FROM follow_up WHERE discrepancy_id = $1", _pk(finding))

    follow_up = await assigned(door)
    twice = await mutation(door, ASSIGN, assign_input(follow_up, version=1), province)
    assert code(twice) == "CONFLICT"
    bad_link = {"discrepancyId": follow_up, "explanation": "x", "version": 1,
                "links": ["javascript:alert(1)"]}  # fmt: skip
    answer = await mutation(door, RESPOND, bad_link, door.keys["opd"])
    assert (code(answer), answer["errors"][0]["extensions"]["argument"]) == (
        "BAD_USER_INPUT", "input.links[0]",
    )  # fmt: skip
    early = {"discrepancyId": follow_up, "accept": True, "version": 1}
    assert code(await mutation(door, REVIEW, early, province)) == "CONFLICT"
    answer_it = {"discrepancyId": follow_up, "explanation": "x", "version": 1}
    payload(await mutation(door, RESPOND, answer_it, door.keys["opd"]))
    stale = await mutation(door, RESPOND, answer_it, door.keys["opd"])
    assert code(stale) == "CONFLICT"
    assert stale["errors"][0]["extensions"]["currentVersion"] == 2
    no_note = {"discrepancyId": follow_up, "accept": False, "version": 2}
    answer = await mutation(door, REVIEW, no_note, province)
    assert (code(answer), answer["errors"][0]["extensions"]["argument"]) == (
        "BAD_USER_INPUT", "input.note",
    )  # fmt: skip
    [row] = await fetch(door, "SELECT state, version FROM follow_up WHERE discrepancy_id = $1",
                        _pk(follow_up))  # fmt: skip
    assert tuple(row) == ("ANSWERED", 2)


async def test_a_resolved_finding_cannot_be_assigned(door: Door) -> None:
    finding = findings(door).take()
    conn = await asyncpg.connect(door.dsn)
    try:
        await conn.execute("UPDATE discrepancy SET resolved_at = now() WHERE id = $1", _pk(finding))
    finally:
        await conn.close()
    answer = await mutation(door, ASSIGN, assign_input(finding), door.keys["province"])
    assert code(answer) == "CONFLICT"
    assert "resolved" in answer["errors"][0]["message"]


async def test_a_retry_with_the_same_key_changes_nothing_and_another_input_is_refused(
    door: Door,
) -> None:
    finding = findings(door).take()
    province = door.keys["province"]
    first = await mutation(door, ASSIGN, assign_input(finding), province, "tugas-1")
    again = await mutation(door, ASSIGN, assign_input(finding), province, "tugas-1")
    assert again["data"] == first["data"]
    actions = await fetch(
        door, "SELECT a.kind FROM follow_up_action a JOIN follow_up f ON f.id = a.follow_up_id "
        "WHERE f.discrepancy_id = $1", _pk(finding),
    )  # fmt: skip
    assert [a["kind"] for a in actions] == ["ASSIGNED"]
    other = await mutation(door, ASSIGN, assign_input(finding, note="Lain."), province, "tugas-1")
    assert code(other) == "IDEMPOTENCY_KEY_REUSED"
    [row] = await fetch(door, "SELECT note, version FROM follow_up WHERE discrepancy_id = $1",
                        _pk(finding))  # fmt: skip
    assert tuple(row) == ("Mohon dijelaskan.", 1)


# --------------------------------------------------------------------------- overdue, counts


async def test_overdue_follow_ups_are_listed_and_counted_per_pemda_and_opd(door: Door) -> None:
    counts_query = (
        f'{{ region(code: "{REGENCY}") {{ followUps(fiscalYear: {FY}) {{ assigned awaiting '
        f"answered overdue medianDaysToAnswer }} }} "
        f'opd(regionCode: "{REGENCY}", code: "{OPD}") {{ followUps(fiscalYear: {FY}) {{ '
        "assigned overdue answered } } }"
    )
    before = (await door.post({"query": counts_query}, door.keys["province"]))["data"]
    late = await assigned(door)
    conn = await asyncpg.connect(door.dsn)
    try:  # an assignment made ten days ago, due three days ago, never answered
        await conn.execute(
            "UPDATE follow_up SET due_on = current_date - 3, assigned_at = now() - interval "
            "'10 days' WHERE discrepancy_id = $1",
            _pk(late),
        )
    finally:
        await conn.close()
    listed = await door.post(
        {
            "query": "{ discrepancies(filter: {overdue: true}, first: 100) { edges { node { id "
            "followUp { overdue } } } } }"
        },
        door.keys["regency"],
    )
    nodes = [e["node"] for e in listed["data"]["discrepancies"]["edges"]]
    assert [n["id"] for n in nodes] == [late]
    assert nodes[0]["followUp"]["overdue"] is True
    after = (await door.post({"query": counts_query}, door.keys["province"]))["data"]
    assert after["region"]["followUps"]["overdue"] == before["region"]["followUps"]["overdue"] + 1
    assert after["opd"]["followUps"]["overdue"] == before["opd"]["followUps"]["overdue"] + 1
    assert after["opd"]["followUps"]["assigned"] == before["opd"]["followUps"]["assigned"] + 1
    # Answering it takes it off the overdue list and gives a median of ten days for it.
    payload(await mutation(door, RESPOND, {"discrepancyId": late, "explanation": "Maaf.",
                                           "version": 1}, door.keys["opd"]))  # fmt: skip
    province_counts = await door.post(
        {
            "query": f'{{ region(code: "53") {{ followUps(fiscalYear: {FY}) {{ overdue answered '
            "medianDaysToAnswer } } }"
        },
        door.keys["province"],
    )
    counts = province_counts["data"]["region"]["followUps"]
    assert counts["overdue"] == before["region"]["followUps"]["overdue"]
    assert counts["answered"] >= 1
    assert counts["medianDaysToAnswer"] is not None


# --------------------------------------------------------------------------- closed by the data


async def test_the_data_closes_a_follow_up_and_its_thread_says_so(door: Door) -> None:
    finding = await assigned(door)
    conn = await asyncpg.connect(door.dsn)
    try:  # the rules run on the seeded store: its test findings are no rule's, so resolved
        report = await DiscrepancyEngine().run(conn, full=True)
    finally:
        await conn.close()
    assert report.follow_ups_closed >= 1
    read = await door.post({"query": FINDING, "variables": {"id": finding}}, door.keys["province"])
    node = read["data"]["node"]
    assert node["resolvedAt"] is not None
    assert node["followUp"]["state"] == "CLOSED"
    assert node["followUp"]["actions"][-1]["kind"] == "CLOSED"
    assert node["followUp"]["actions"][-1]["role"] is None
    [row] = await fetch(
        door, "SELECT h.after FROM change_history h JOIN follow_up f ON f.id = h.entity_id "
        "WHERE h.entity = 'follow_up' AND f.discrepancy_id = $1 ORDER BY h.id DESC LIMIT 1",
        _pk(finding),
    )  # fmt: skip
    assert json.loads(row["after"])["state"] == "CLOSED"


async def test_every_follow_up_action_keeps_the_audit_chain_intact(door: Door) -> None:
    conn = await asyncpg.connect(door.dsn)
    try:
        report = await verify(conn, SECRET_KEY)
    finally:
        await conn.close()
    assert report.intact, report.problems


def _pk(finding: str) -> int:
    from hub.store.codec import parse_global_id

    return parse_global_id(finding)[1]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("province", {"role": "province", "regionCode": None, "opdCode": None}),
        ("inspector-53.01", {"role": "inspector", "regionCode": REGENCY, "opdCode": None}),
        ("opd", {"role": "opd", "regionCode": REGENCY, "opdCode": OPD}),
        (None, {"role": "public", "regionCode": None, "opdCode": None}),
    ],
)
async def test_viewer_says_the_role_and_scope_a_client_offers_actions_by(
    door: Door, name: str | None, expected: dict[str, Any]
) -> None:
    key = door.keys[name] if name else None
    answer = await door.post({"query": "{ viewer { role regionCode opdCode authenticated } }"}, key)
    assert "errors" not in answer, answer
    assert answer["data"]["viewer"] == {**expected, "authenticated": name is not None}

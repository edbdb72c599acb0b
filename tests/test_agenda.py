"""E-Jadwal over HTTP GraphQL: the agenda of a Pemda or an OPD merges tender stages,
contract ends, e-Monev deadlines, follow-up due dates and DPA milestones, each late or not
by what has arrived; scoped like the rows it comes from; bad spans refused."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import icalendar
import pytest

from hub.auth import keys
from hub.reference.clock import province_today
from hub.serving.opendata.ical import escape
from hub.store.codec import global_id
from tests.conftest import Server
from tests.test_request_path import Door, _door, code
from tests.test_security import FY, REGENCY, SECRET_KEY

OPD = "1.02.0.00.0.00.01.0000"
AGENDA = """query A($region: String!, $opd: String, $from: Date!, $to: Date!) {
  agenda(regionCode: $region, opdCode: $opd, from: $from, to: $to) {
    kind date title late regionCode subjectId opd { code } } }"""
YEAR = {"from": f"{FY}-01-01", "to": f"{FY + 1}-01-31"}


@pytest.fixture(scope="module")
async def door(server: Server) -> AsyncIterator[Door]:
    async for d in _door(server, "rantai_agenda"):
        yield d


async def agenda(door: Door, key: str | None, **variables: Any) -> dict[str, Any]:
    return await door.post({"query": AGENDA, "variables": {**YEAR, **variables}}, key)


async def sql(door: Door, statement: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(door.dsn)
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def test_a_pemdas_agenda_merges_what_the_chain_knows_is_due(door: Door) -> None:
    answer = await agenda(door, door.keys["province"], region=REGENCY)
    assert "errors" not in answer, answer
    items = answer["data"]["agenda"]
    kinds = {i["kind"] for i in items}
    assert {"CONTRACT_END", "MONEV_DEADLINE", "DPA_MILESTONE"} <= kinds
    assert [i["date"] for i in items] == sorted(i["date"] for i in items)
    assert {i["regionCode"] for i in items} == {REGENCY}
    [ends] = await sql(
        door, "SELECT count(*) AS n FROM contract c JOIN region r ON r.id = c.region_id "
        "WHERE r.code = $1 AND c.ends_on BETWEEN $2 AND $3", REGENCY,
        datetime.fromisoformat(YEAR["from"]).date(), datetime.fromisoformat(YEAR["to"]).date(),
    )  # fmt: skip
    assert sum(i["kind"] == "CONTRACT_END" for i in items) == ends["n"]
    # A Form A deadline per OPD and month, on the tenth of the following month: those of
    # December of the year before to December of this one fall in the span.
    monev = [i for i in items if i["kind"] == "MONEV_DEADLINE" and i["opd"]["code"] == OPD]
    assert [i["date"][5:] for i in monev] == [f"{m:02d}-10" for m in range(1, 13)] + ["01-10"]
    assert monev[0]["title"].endswith(f"{FY - 1}-12")
    assert monev[-1]["title"].endswith(f"{FY}-12")


async def test_a_monev_deadline_is_late_until_a_report_covers_its_month(door: Door) -> None:
    [sa] = await sql(
        door, "SELECT s.id, s.code, s.region_id FROM sub_activity s JOIN opd o ON "
        "o.id = s.opd_id JOIN region r ON r.id = o.region_id WHERE r.code = $1 AND "
        "o.code = $2 ORDER BY s.id LIMIT 1", REGENCY, OPD,
    )  # fmt: skip
    await sql(
        door, "DELETE FROM progress_report WHERE sub_activity_id IN (SELECT s.id FROM "
        "sub_activity s WHERE s.opd_id = (SELECT opd_id FROM sub_activity WHERE id = $1))",
        sa["id"],
    )  # fmt: skip

    async def march() -> dict[str, Any]:
        answer = await agenda(door, door.keys["opd"], region=REGENCY, opd=OPD)
        [item] = [
            i for i in answer["data"]["agenda"]
            if i["kind"] == "MONEV_DEADLINE" and i["date"] == f"{FY}-04-10"
        ]  # fmt: skip
        return item

    assert (await march())["late"] is True
    await sql(
        door, "INSERT INTO progress_report (region_id, fiscal_year, sub_activity_code, "
        "sub_activity_id, period, physical_percent, financial_percent, source_id, source_key) "
        "VALUES ($1, $2, $3, $4, $5, 10, 10, 'monev-sheets', 'uji')",
        sa["region_id"], FY, sa["code"], sa["id"], f"{FY}-Q1",
    )  # fmt: skip
    item = await march()
    assert item["late"] is False
    assert item["subjectId"].startswith(global_id("Opd", 1)[:4])


async def test_an_opd_sees_its_follow_up_due_dates_and_the_public_none(door: Door) -> None:
    [finding] = await sql(
        door, "SELECT d.id FROM discrepancy d JOIN opd o ON o.id = d.opd_id JOIN region r ON "
        "r.id = d.region_id WHERE r.code = $1 AND o.code = $2 LIMIT 1", REGENCY, OPD,
    )  # fmt: skip
    due = (province_today() + timedelta(days=3)).isoformat()
    assigned = await door.post(
        {
            "query": "mutation A($i: AssignDiscrepancyInput!) { assignDiscrepancy(input: $i) "
            "{ followUp { id } } }",
            "variables": {
                "i": {
                    "discrepancyId": global_id("Discrepancy", finding["id"]),
                    "opdCode": OPD,
                    "dueOn": due,
                    "note": "Jelaskan.",
                    "version": 0,
                }
            },
        },
        door.keys["province"],
    )
    follow_up = assigned["data"]["assignDiscrepancy"]["followUp"]["id"]
    span = {"from": due, "to": due}
    mine = await door.post(
        {"query": AGENDA, "variables": {**span, "region": REGENCY, "opd": OPD}}, door.keys["opd"]
    )
    items = [i for i in mine["data"]["agenda"] if i["kind"] == "FOLLOW_UP_DUE"]
    assert [(i["subjectId"], i["late"], i["opd"]["code"]) for i in items] == [
        (follow_up, False, OPD)
    ]
    public = await door.post({"query": AGENDA, "variables": {**span, "region": REGENCY}})
    assert not [i for i in public["data"]["agenda"] if i["kind"] == "FOLLOW_UP_DUE"]


async def test_an_opd_key_gets_its_own_opds_items_only(door: Door) -> None:
    answer = await agenda(door, door.keys["opd"], region=REGENCY)
    codes = {i["opd"]["code"] for i in answer["data"]["agenda"] if i["opd"]}
    assert codes == {OPD}


@pytest.mark.parametrize(
    "span",
    [
        {"from": f"{FY}-06-01", "to": f"{FY}-05-01"},
        {"from": f"{FY}-01-01", "to": f"{FY + 2}-01-01"},
        {"from": "9999-01-01", "to": "9999-12-31"},  # once an internal error (year 10000)
        {"from": "0001-01-01", "to": "0001-12-31"},
    ],
)
async def test_a_span_backwards_or_over_a_year_is_refused(door: Door, span: dict[str, str]) -> None:
    answer = await door.post(
        {"query": AGENDA, "variables": {**span, "region": REGENCY}}, door.keys["province"]
    )
    assert code(answer) == "BAD_USER_INPUT"
    wrong = "from" if span["from"][:4] in ("9999", "0001") else "to"
    assert answer["errors"][0]["extensions"]["argument"] == wrong


# --------------------------------------------------------------------------- the iCalendar feed


async def feed(door: Door, path: str, token: str | None = None) -> httpx.Response:
    params = {"token": token} if token else {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{door.port}") as client:
        return await client.get(path, params=params)


async def feed_token(door: Door, role: str, region: str | None, opd: str | None) -> str:
    conn = await asyncpg.connect(door.dsn)
    try:
        key, _ = await keys.create(conn, SECRET_KEY, role, region, opd, "kalender", feed=True)
    finally:
        await conn.close()
    return key


async def test_an_opds_feed_parses_and_holds_its_agenda_only(door: Door) -> None:
    token = await feed_token(door, "opd", REGENCY, OPD)
    response = await feed(door, f"/agenda/{REGENCY}/{OPD}.ics", token)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    parsed = icalendar.Calendar.from_ical(response.content)
    events = [c for c in parsed.walk("VEVENT")]
    assert events
    today = province_today()
    days = [e.decoded("DTSTART") for e in events]
    assert all(today - timedelta(days=60) <= d <= today + timedelta(days=300) for d in days)
    assert len({str(e["UID"]) for e in events}) == len(events)
    graphql = await door.post(
        {"query": AGENDA, "variables": {"region": REGENCY, "opd": OPD,
                                        "from": (today - timedelta(days=60)).isoformat(),
                                        "to": (today + timedelta(days=300)).isoformat()}},
        door.keys["opd"],
    )  # fmt: skip
    assert len(events) == len(graphql["data"]["agenda"])
    assert {str(e["SUMMARY"]).removesuffix(" (terlambat)") for e in events} == {
        i["title"] for i in graphql["data"]["agenda"]
    }


async def test_a_feed_token_reads_the_feed_and_nothing_else_until_revoked(door: Door) -> None:
    token = await feed_token(door, "regency", REGENCY, None)
    assert (await feed(door, f"/agenda/{REGENCY}.ics", token)).status_code == 200
    api = await door.post({"query": "{ regions { code } }"}, token)
    assert (api["status"], code(api)) == (401, "UNAUTHENTICATED")
    conn = await asyncpg.connect(door.dsn)
    try:
        await keys.revoke(conn, SECRET_KEY, keys.prefix_of(token))
    finally:
        await conn.close()
    assert (await feed(door, f"/agenda/{REGENCY}.ics", token)).status_code == 401


async def test_a_feed_is_scoped_and_refuses_what_it_may_not_show(door: Door) -> None:
    token = await feed_token(door, "opd", REGENCY, OPD)
    other = await feed(door, f"/agenda/{REGENCY}/9.99.0.00.0.00.01.0000.ics", token)
    assert other.status_code == 404
    assert "No OPD" in other.json()["errors"][0]["message"]
    [neighbour] = await sql(
        door, "SELECT o.code FROM opd o JOIN region r ON r.id = o.region_id WHERE r.code = $1 "
        "AND o.code <> $2 ORDER BY o.code LIMIT 1", REGENCY, OPD,
    )  # fmt: skip
    assert (
        await feed(door, f"/agenda/{REGENCY}/{neighbour['code']}.ics", token)
    ).status_code == 404
    # An ordinary key never goes into a URL; the public feed has no follow-up due dates.
    assert (await feed(door, f"/agenda/{REGENCY}.ics", door.keys["province"])).status_code == 401
    public = icalendar.Calendar.from_ical((await feed(door, f"/agenda/{REGENCY}.ics")).content)
    assert not [e for e in public.walk("VEVENT") if str(e["CATEGORIES"].cats[0]) == "Tindak lanjut"]
    unknown = await feed(door, "/agenda/99.99.ics")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_rantai_keys_create_feed_makes_a_token_for_the_feed_only(
    door: Door, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANTAI_")}
    env |= {"RANTAI_DATABASE_URL": door.dsn, "RANTAI_SECRET_KEY": SECRET_KEY}
    made = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub.cli", "keys", "create", "--role", "opd", "--region",
         REGENCY, "--opd", OPD, "--feed", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("created feed token")
    token = made.stdout.strip().splitlines()[-1]
    assert (await feed(door, f"/agenda/{REGENCY}/{OPD}.ics", token)).status_code == 200
    assert (await door.post({"query": "{ regions { code } }"}, token))["status"] == 401


def test_legacy_text_in_a_feed_never_starts_a_line_of_its_own() -> None:
    """A bare CR in a tender stage's name (legacy data) would end the line for clients that
    take it as a break, and what follows would read as an event of its own."""
    hostile = "Penetapan Pemenang\rEND:VEVENT\rBEGIN:VEVENT\r\nSUMMARY:Transfer\n\x00x\x1b"
    written = escape(hostile)
    assert written == "Penetapan Pemenang\\nEND:VEVENT\\nBEGIN:VEVENT\\nSUMMARY:Transfer\\nx"
    assert not any(ch < " " for ch in written)


def test_the_dashboards_due_dates_count_the_provinces_day() -> None:
    """The dashboard's date picker states the province's offset itself (a static file):
    it must be the hub's clock's."""
    import re
    from pathlib import Path

    from hub.reference.clock import province_offset

    script = (Path(__file__).parents[1] / "hub/static/dashboard/followup.js").read_text()
    [hours] = re.findall(r"PROVINCE_OFFSET_MS = (\d+) \* 3600 \* 1000", script)
    assert province_offset() == f"+{int(hours):02d}:00"

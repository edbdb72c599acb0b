"""Relay connections: opaque keyset cursors, edge cases and the errors of bad paging input."""

from __future__ import annotations

import base64

import asyncpg
import orjson

from hub.store.codec import encode_cursor
from tests.conftest import Api

PAGE = """query($first: Int, $after: String) {
  subActivities(filter: {fiscalYear: 2025, regionCode: "53.71"}, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { code } }
  }
}"""


async def walk(api: Api, first: int) -> list[str]:
    codes: list[str] = []
    after = None
    while True:
        data = await api.data(PAGE, {"first": first, "after": after})
        conn = data["subActivities"]
        codes += [e["node"]["code"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            return codes
        after = conn["pageInfo"]["endCursor"]


async def test_walking_pages_visits_every_row_once_in_code_order(
    api: Api, db: asyncpg.Connection
) -> None:
    expected = [
        r["code"]
        for r in await db.fetch(
            """SELECT sa.code FROM sub_activity sa JOIN region r ON r.id = sa.region_id
               WHERE r.code = '53.71' AND fiscal_year = 2025 ORDER BY sa.code, sa.id"""
        )
    ]
    assert await walk(api, 37) == expected


async def test_first_page_has_no_previous_and_last_page_has_no_next(api: Api) -> None:
    first = (await api.data(PAGE, {"first": 5}))["subActivities"]
    total = first["totalCount"]
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"]
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    # Skip to the last row: a page after it is empty and ends the walk.
    everything = (await api.data(PAGE, {"first": total}))["subActivities"]
    last_cursor = everything["edges"][-1]["cursor"]
    assert everything["pageInfo"]["hasNextPage"] is False
    after_last = (await api.data(PAGE, {"first": 5, "after": last_cursor}))["subActivities"]
    assert after_last["edges"] == []
    assert after_last["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": None,
        "endCursor": None,
    }
    assert after_last["totalCount"] == total


async def test_first_zero_returns_no_edges_but_says_whether_more_exist(api: Api) -> None:
    data = (await api.data(PAGE, {"first": 0}))["subActivities"]
    assert data["edges"] == []
    assert data["pageInfo"]["hasNextPage"] is True


async def test_empty_connection(api: Api) -> None:
    data = await api.data(
        "{ subActivities(filter: {fiscalYear: 1999}) { totalCount edges { cursor } "
        "pageInfo { hasNextPage startCursor endCursor } } }"
    )
    assert data["subActivities"] == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {"hasNextPage": False, "startCursor": None, "endCursor": None},
    }


async def test_cursor_of_a_deleted_row_still_continues_after_it(
    api: Api, db: asyncpg.Connection
) -> None:
    region_id = await db.fetchval("SELECT id FROM region WHERE code = '53.71'")
    query = """query($after: String) { opds(regionCode: "53.71", first: 100, after: $after) {
                 edges { cursor node { code } } } }"""
    before = [e["node"]["code"] for e in (await api.data(query))["opds"]["edges"]]
    await db.execute(
        """INSERT INTO opd (region_id, code, name, source_id, source_key)
           VALUES ($1, '1.03.0.00.0.00.01.0001', 'UPTD Jalan (test)', 'bappeda-eplanning', 't')""",
        region_id,
    )
    with_new = (await api.data(query))["opds"]["edges"]
    cursor = next(e["cursor"] for e in with_new if e["node"]["code"] == "1.03.0.00.0.00.01.0001")
    await db.execute("DELETE FROM opd WHERE code = '1.03.0.00.0.00.01.0001'")
    after_deleted = [
        e["node"]["code"] for e in (await api.data(query, {"after": cursor}))["opds"]["edges"]
    ]
    assert after_deleted == [c for c in before if c > "1.03.0.00.0.00.01.0001"]


async def test_filters_stage_search_and_opd_code(api: Api, db: asyncpg.Connection) -> None:
    completed = await db.fetchval(
        "SELECT count(*) FROM sub_activity_rollup WHERE stage = 'COMPLETED' AND fiscal_year = 2025"
    )
    pupr = await db.fetchval(
        "SELECT count(*) FROM sub_activity sa JOIN opd o ON o.id = sa.opd_id "
        "WHERE o.code = '1.03.0.00.0.00.01.0000'"
    )
    irrigation = await db.fetchval("SELECT count(*) FROM sub_activity WHERE name ILIKE '%irigasi%'")
    data = await api.data(
        """{ c: subActivities(filter: {fiscalYear: 2025, stage: COMPLETED}, first: 500) {
               totalCount edges { node { stage } } }
             o: subActivities(filter: {fiscalYear: 2025, opdCode: "1.03.0.00.0.00.01.0000"}) {
               totalCount }
             s: subActivities(filter: {fiscalYear: 2025, search: "Irigasi"}) { totalCount }
             pct: subActivities(filter: {fiscalYear: 2025, search: "100%"}) { totalCount } }"""
    )
    assert completed > 0
    assert data["c"]["totalCount"] == completed
    assert {e["node"]["stage"] for e in data["c"]["edges"]} == {"COMPLETED"}
    assert data["o"]["totalCount"] == pupr
    assert data["s"]["totalCount"] == irrigation > 0
    assert data["pct"]["totalCount"] == 0  # % is matched literally, not as a wildcard


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_malformed_cursors_are_bad_cursor(api: Api) -> None:
    bad = [
        "not base64 at all!",
        b64(b"not json"),
        b64(orjson.dumps({"kind": "SubActivity"})),
        b64(orjson.dumps(["SubActivity", "1.01"])),  # wrong arity
        b64(orjson.dumps(["SubActivity", "1.01", True])),  # wrong value type
        encode_cursor("Opd", ["1.01", 1]),  # another connection's cursor
    ]
    for cursor in bad:
        body = await api.query(PAGE, {"first": 5, "after": cursor})
        assert body["data"] is None, cursor
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_CURSOR", cursor
        assert error["path"] == ["subActivities"]


async def test_first_above_the_limit_is_page_too_large(api: Api) -> None:
    body = await api.query(PAGE, {"first": 501})
    [error] = body["errors"]
    assert error["extensions"] == {"code": "PAGE_TOO_LARGE", "maxPageSize": 500}
    ok = await api.query(PAGE, {"first": 500})
    assert "errors" not in ok


async def test_negative_first_is_bad_user_input(api: Api) -> None:
    body = await api.query(PAGE, {"first": -1})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_every_connection_checks_its_page_size(api: Api) -> None:
    for document in [
        "{ opds(first: 501) { totalCount } }",
        "{ discrepancies(first: 501) { totalCount } }",
        '{ region(code: "53") { opds(first: 501) { totalCount } } }',
        '{ opd(regionCode: "53", code: "1.03.0.00.0.00.01.0000") '
        "{ subActivities(fiscalYear: 2025, first: 501) { totalCount } } }",
    ]:
        body = await api.query(document)
        assert body["errors"][0]["extensions"]["code"] == "PAGE_TOO_LARGE", document

"""History in the API: `history(first, after)` on the synced types and `changes` on a
change event, scoped and masked exactly as the rows' current values (role × field)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from hub.db import asyncpg_dsn
from hub.events.changelog import Change
from hub.serving.app import create_app
from hub.store.codec import encode_cursor, global_id
from hub.sync.bindings import BY_ENTITY, VENDOR
from hub.sync.writer import Writer
from tests.conftest import Server, running
from tests.test_security import REGENCY, Hub, _make_keys, _seeded, secure_settings
from tests.test_subscriptions import next_message

HISTORY = """
query ($id: ID!, $first: Int, $after: String) {
  node(id: $id) {
    ... on Payment { history(first: $first, after: $after) { ...page } }
    ... on Vendor { history(first: $first, after: $after) { ...page } }
    ... on SubActivity { history(first: $first, after: $after) { ...page } }
  }
}
fragment page on EntityChangeConnection {
  totalCount
  pageInfo { hasNextPage endCursor }
  edges { node { op foundBy source { id } changes { field before after } } }
}
"""


@pytest.fixture(scope="module")
async def hub(server: Server) -> AsyncIterator[Hub]:
    url = await _seeded(server, "rantai_history")
    conn = await asyncpg.connect(_dsn(url))
    try:
        opd = await conn.fetchval(
            """SELECT o.code FROM opd o JOIN region r ON r.id = o.region_id
            JOIN sub_activity s ON s.opd_id = o.id JOIN payment p ON p.sub_activity_id = s.id
            WHERE r.code = $1 GROUP BY o.code ORDER BY count(*) DESC LIMIT 1""",
            REGENCY,
        )
    finally:
        await conn.close()
    made = await _make_keys(_dsn(url), opd)
    settings = secure_settings(url)
    app = create_app(url, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield Hub(url, _dsn(url), settings, client, made, opd)


def _dsn(url: str) -> str:
    return asyncpg_dsn(url)


async def _record(
    hub: Hub, entity: str, changes: list[Change], found_by: str | None = None
) -> None:
    conn = await asyncpg.connect(hub.dsn)
    try:
        async with conn.transaction():
            if found_by is not None:
                await conn.execute(f"SET LOCAL rantai.found_by = '{found_by}'")
            binding = VENDOR if entity == "vendor" else BY_ENTITY[entity]
            await Writer(conn, "bpkad-keuangan").record(binding, changes)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def rows(hub: Hub) -> dict[str, Any]:
    """A payment of the OPD key's OPD, one of a neighbouring OPD of the same Pemda, one of
    another Pemda, a vendor: each with changes recorded as the sync records them."""
    found = await hub.fetch(
        """SELECT DISTINCT ON (r.code, o.code = $2 AND r.code = $1) p.id, r.code,
                  o.code AS opd
        FROM payment p JOIN region r ON r.id = p.region_id JOIN sub_activity s
        ON s.id = p.sub_activity_id JOIN opd o ON o.id = s.opd_id
        ORDER BY r.code, o.code = $2 AND r.code = $1, p.id""",
        REGENCY,
        hub.opd,
    )
    mine = next(r for r in found if r["code"] == REGENCY and r["opd"] == hub.opd)
    neighbour = next(r for r in found if r["code"] == REGENCY and r["opd"] != hub.opd)
    elsewhere = next(r for r in found if r["code"] != REGENCY)
    vendor = (await hub.fetch("SELECT id FROM vendor ORDER BY id LIMIT 1"))[0]["id"]
    for payment in (mine, neighbour, elsewhere):
        await _record(
            hub,
            "payment",
            [
                Change(payment["id"], f"k{payment['id']}", "UPDATED",
                       {"amount": "1000.00", "payee_name": "CV Lama"},
                       {"amount": "2500.00", "payee_name": "CV Baru"}),
            ],
        )  # fmt: skip
    await _record(
        hub,
        "payment",
        [Change(mine["id"], f"k{mine['id']}", "UPDATED", {"amount": "2500.00"},
                {"amount": "2600.00"})],
        found_by="reconciliation",
    )  # fmt: skip
    await _record(
        hub,
        "vendor",
        [Change(vendor, "v", "UPDATED", {"name": "PT Lama", "tax_id": "012345678901000"},
                {"name": "PT Baru", "tax_id": "999999999999000"})],
        found_by="sync",
    )  # fmt: skip
    return {
        "mine": global_id("Payment", mine["id"]),
        "neighbour": global_id("Payment", neighbour["id"]),
        "elsewhere": global_id("Payment", elsewhere["id"]),
        "vendor": global_id("Vendor", vendor),
    }


async def _history(hub: Hub, node: str, key: str | None, **args: Any) -> dict[str, Any]:
    return await hub.query(HISTORY, {"id": node, **args}, key)


def _changes(body: dict[str, Any]) -> list[tuple[str, str, list[tuple[Any, ...]]]]:
    edges = body["data"]["node"]["history"]["edges"]
    return [
        (
            e["node"]["op"],
            e["node"]["foundBy"],
            [(c["field"], c["before"], c["after"]) for c in e["node"]["changes"]],
        )
        for e in edges
    ]


async def test_a_payment_s_history_with_before_and_after_in_graphql_names(
    hub: Hub, rows: dict[str, Any]
) -> None:
    body = await _history(hub, rows["mine"], hub.keys["province"])
    assert "errors" not in body, body
    assert _changes(body) == [
        ("UPDATED", None, [("amount", "1000.00", "2500.00"), ("payee", "CV Lama", "CV Baru")]),
        ("UPDATED", "RECONCILIATION", [("amount", "2500.00", "2600.00")]),
    ]
    page = body["data"]["node"]["history"]
    assert page["totalCount"] == 2
    assert page["edges"][0]["node"]["source"] == {"id": "bpkad-keuangan"}


async def test_history_pages(hub: Hub, rows: dict[str, Any]) -> None:
    first = await _history(hub, rows["mine"], hub.keys["province"], first=1)
    page = first["data"]["node"]["history"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert [c[1] for c in _changes(first)] == [None]
    second = await _history(
        hub, rows["mine"], hub.keys["province"], first=1, after=page["pageInfo"]["endCursor"]
    )
    assert [c[1] for c in _changes(second)] == ["RECONCILIATION"]
    assert second["data"]["node"]["history"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("province", {"mine", "neighbour", "elsewhere"}),
        ("regency", {"mine", "neighbour"}),
        ("opd", {"mine"}),
        ("public", set()),
    ],
)
async def test_history_is_scoped_as_the_row(
    hub: Hub, rows: dict[str, Any], role: str, visible: set[str]
) -> None:
    key = hub.keys.get(role)
    seen = set()
    for name in ("mine", "neighbour", "elsewhere"):
        body = await _history(hub, rows[name], key)
        if body["data"]["node"] is not None:
            assert body["data"]["node"]["history"]["totalCount"] >= 1
            seen.add(name)
    assert seen == visible


@pytest.mark.parametrize("role", ["province", "regency", "opd", "public"])
async def test_a_masked_field_s_old_value_is_masked_too(
    hub: Hub, rows: dict[str, Any], role: str
) -> None:
    body = await _history(hub, rows["vendor"], hub.keys.get(role))
    changes = _changes(body)
    if role != "public":
        assert "errors" not in body, body
        assert changes == [
            ("UPDATED", "SYNC", [("name", "PT Lama", "PT Baru"),
                                 ("taxId", "012345678901000", "999999999999000")]),
        ]  # fmt: skip
        return
    # The public sees the vendor's name changing, never its NPWP, then or now.
    assert changes == [("UPDATED", "SYNC", [("name", "PT Lama", "PT Baru"), ("taxId", None, None)])]
    errors = body["errors"]
    assert {e["extensions"]["code"] for e in errors} == {"FORBIDDEN"}
    assert {tuple(e["path"][-2:]) for e in errors} == {(1, "before"), (1, "after")}
    current = await hub.query(
        "query ($id: ID!) { node(id: $id) { ... on Vendor { taxId } } }", {"id": rows["vendor"]}
    )
    assert current["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert json.dumps(body).count("012345678901000") == 0


@pytest.fixture(scope="module")
async def live(hub: Hub) -> AsyncIterator[str]:
    app = create_app(hub.url, secure_settings(hub.url))
    async with running(app) as port:
        yield f"ws://127.0.0.1:{port}/graphql"


LIVE = """subscription ($after: String) {
  changes(after: $after, filter: {entities: ["Vendor"]}) {
    entity op foundBy changes { field before after }
  }
}"""


async def test_a_change_event_carries_its_changes_masked_as_history(hub: Hub, live: str) -> None:
    top = (await hub.fetch("SELECT COALESCE(max(id), 0) AS top FROM outbox"))[0]["top"]
    after = encode_cursor("change", [top])
    vendor = (await hub.fetch("SELECT id FROM vendor ORDER BY id DESC LIMIT 1"))[0]["id"]
    await _record(
        hub,
        "vendor",
        [Change(vendor, "w", "UPDATED", {"tax_id": "011111111111000"},
                {"tax_id": "022222222222000"})],
        found_by="reconciliation",
    )  # fmt: skip
    got = {}
    for role in ("province", "public"):
        ws = await websockets.connect(
            live, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
        )
        init: dict[str, Any] = {"type": "connection_init"}
        if role != "public":
            init["payload"] = {"Authorization": f"Bearer {hub.keys[role]}"}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": LIVE, "variables": {"after": after}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        got[role] = (await next_message(ws, wait=10))["payload"]
        await ws.close()
    assert got["province"]["data"]["changes"] == {
        "entity": "Vendor",
        "op": "UPDATED",
        "foundBy": "RECONCILIATION",
        "changes": [{"field": "taxId", "before": "011111111111000", "after": "022222222222000"}],
    }
    public = got["public"]
    assert public["data"]["changes"]["changes"] == [
        {"field": "taxId", "before": None, "after": None}
    ]
    assert {e["extensions"]["code"] for e in public["errors"]} == {"FORBIDDEN"}
    assert "011111111111000" not in json.dumps(public)

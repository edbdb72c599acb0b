"""The schema's own vocabulary: every id the API hands out resolves through `node(id)`,
change events name GraphQL types and fields (never storage), and filters over a closed
vocabulary refuse names outside it, saying which are valid."""

from __future__ import annotations

import asyncpg
import pytest
from websockets.exceptions import ConnectionClosed

from hub.events.changelog import Change
from hub.store.codec import global_id
from hub.sync.bindings import BY_ENTITY
from hub.sync.writer import Writer
from schema.changes import entity_types, graphql_fields
from schema.fields import ROW_TYPES
from tests.conftest import Api
from tests.test_subscriptions import next_message, subscribe

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"


async def test_every_node_type_resolves_by_its_id(api: Api, db: asyncpg.Connection) -> None:
    resolved = []
    for name in sorted(entity_types()):
        table = ROW_TYPES[name].table
        assert table is not None
        pk = await db.fetchval(f"SELECT min(id) FROM {table.name}")
        if pk is None:
            continue  # the synthetic store has no rows of it
        data = await api.data(NODE, {"id": global_id(name, pk)})
        assert data["node"] == {"__typename": name, "id": global_id(name, pk)}, name
        resolved.append(name)
    # The payment, budget and monev types had no id before; they resolve now.
    assert {"Payment", "BudgetLine", "ProgressReport", "Bid", "Vendor"} <= set(resolved)


async def test_a_payee_without_a_vendor_row_resolves_through_its_payment(
    api: Api, db: asyncpg.Connection
) -> None:
    payment = await db.fetchrow(
        "SELECT id, payee_name FROM payment WHERE payee_vendor_id IS NULL "
        "AND payee_name IS NOT NULL ORDER BY id LIMIT 1"
    )
    if payment is None:
        pytest.skip("the synthetic store has no payee without a vendor row")
    query = """query($id: ID!) { node(id: $id) { ... on Payment {
        payee { id name } } } }"""
    data = await api.data(query, {"id": global_id("Payment", payment["id"])})
    payee = data["node"]["payee"]
    assert payee["name"] == payment["payee_name"]
    again = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Vendor { id name } } }", {"id": payee["id"]}
    )
    assert again["node"] == payee


def test_changed_fields_are_graphql_names() -> None:
    assert graphql_fields("Payment", ("amount", "payee_vendor_id", "payee_name")) == [
        "amount",
        "payee",
    ]
    assert graphql_fields("SubActivity", ("planned_amount", "source_key", "synced_at")) == [
        "plannedAmount",
        "provenance",
    ]
    assert graphql_fields("Tender", ("winner_vendor_id", "owner_estimate")) == [
        "winner",
        "ownerEstimate",
    ]
    # Rows kept under a parent type are reported by the parent's field.
    assert graphql_fields("ProcurementPackage", ("budget_rows",)) == ["budgetRows"]
    # Bookkeeping columns are not fields: they are left out, never shown raw.
    assert graphql_fields("Payment", ("region_id", "sub_activity_code")) == []


async def test_a_change_event_names_graphql_fields(
    api: Api, db: asyncpg.Connection, store_url: str
) -> None:
    from hub.serving.app import create_app
    from hub.settings import Settings
    from tests.conftest import running

    payment = await db.fetchval("SELECT min(id) FROM payment")
    app = create_app(store_url, Settings(database_url=store_url))
    query = """subscription { changes(filter: {entities: ["Payment"]}) {
        entity entityId changedFields } }"""
    async with (
        running(app) as port,
        subscribe(f"ws://127.0.0.1:{port}/graphql", {}, query=query) as ws,
    ):
        conn = await asyncpg.connect(store_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            async with conn.transaction():
                change = Change(
                    payment,
                    f"k{payment}",
                    "UPDATED",
                    {"amount": "1", "payee_vendor_id": None},
                    {"amount": "2", "payee_vendor_id": 7},
                )
                await Writer(conn, "bpkad-keuangan").record(BY_ENTITY["payment"], [change])
        finally:
            await conn.close()
        event = (await next_message(ws))["payload"]["data"]["changes"]
    assert event == {
        "entity": "Payment",
        "entityId": global_id("Payment", payment),
        "changedFields": ["amount", "payee"],
    }


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ('subscription { changes(filter: {entities: ["Payments"]}) { entity } }', "Payment"),
        ('subscription { discrepancyEvents(filter: {rule: "NOPE"}) { raised } }', "SINGLE_BIDDER"),
    ],
)
async def test_an_unknown_name_in_a_closed_vocabulary_is_refused(
    store_url: str, query: str, named: str
) -> None:
    from hub.serving.app import create_app
    from hub.settings import Settings
    from tests.conftest import running

    app = create_app(store_url, Settings(database_url=store_url))
    async with (
        running(app) as port,
        subscribe(f"ws://127.0.0.1:{port}/graphql", {}, query=query) as ws,
    ):
        try:
            message = await next_message(ws, wait=10)
        except ConnectionClosed:  # pragma: no cover - the socket must stay open
            raise AssertionError("the socket closed instead of answering") from None
    assert message["type"] == "error"
    error = message["payload"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert named in error["message"]  # the valid ones are listed


def test_every_event_entity_is_a_node_type() -> None:
    """What `entities` accepts is exactly the types whose ids `node(id)` resolves."""
    from schema import schema

    types = schema._schema.type_map
    for name in entity_types():
        node = types[name]
        assert any(i.name == "Node" for i in node.interfaces), name  # type: ignore[attr-defined]
    assert "PackageBudgetRow" not in entity_types()

"""The graphql-transport-ws protocol as the hub speaks it, and one rendering per event for
all subscribers that asked for the same thing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from hub.events.outbox import parse_cursor
from tests.test_subscriptions import CHANGES, Hub, change_plan, events, next_message
from tests.test_subscriptions import hub as hub
from tests.test_subscriptions import ws_protocol as ws_protocol

PROTOCOLS = [websockets.Subprotocol("graphql-transport-ws")]


async def connect(hub: Hub, *, init: bool = True) -> websockets.ClientConnection:
    ws = await websockets.connect(hub.url, subprotocols=PROTOCOLS)
    if init:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
    return ws


async def start(ws: websockets.ClientConnection, op_id: str, query: str, **variables: Any) -> None:
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def closed_with(ws: websockets.ClientConnection) -> tuple[int | None, str | None]:
    async def drain() -> None:
        while True:
            await asyncio.wait_for(ws.recv(), 10)

    with pytest.raises(ConnectionClosed):
        await drain()
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason


async def test_a_client_without_the_subprotocol_is_closed_with_4406(hub: Hub) -> None:
    async with websockets.connect(hub.url) as ws:
        code, _ = await closed_with(ws)
    assert code == 4406


async def test_subscribe_before_connection_init_is_closed_with_4401(hub: Hub) -> None:
    ws = await connect(hub, init=False)
    await start(ws, "1", CHANGES)
    assert await closed_with(ws) == (4401, "Unauthorized")


async def test_a_second_connection_init_is_closed_with_4429(hub: Hub) -> None:
    ws = await connect(hub)
    await ws.send(json.dumps({"type": "connection_init"}))
    assert (await closed_with(ws))[0] == 4429


async def test_no_connection_init_in_time_is_closed_with_4408(hub: Hub) -> None:
    hub.app.state.live.init_timeout = 0.3
    ws = await connect(hub, init=False)
    assert (await closed_with(ws))[0] == 4408


@pytest.mark.parametrize(
    "message",
    ["not json", "[]", '{"type": 1}', '{"type": "hello"}', '{"type": "subscribe", "id": "1"}'],
)
async def test_an_invalid_message_is_closed_with_4400(hub: Hub, message: str) -> None:
    ws = await connect(hub)
    await ws.send(message)
    assert (await closed_with(ws))[0] == 4400


async def test_a_duplicate_operation_id_is_closed_with_4409(hub: Hub) -> None:
    ws = await connect(hub)
    await start(ws, "same", CHANGES)
    await start(ws, "same", CHANGES)
    assert await closed_with(ws) == (4409, "Subscriber for same already exists")


async def test_ping_gets_pong(hub: Hub) -> None:
    ws = await connect(hub)
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await ws.recv()) == {"type": "pong"}
    await ws.close()


async def test_an_invalid_document_gets_an_error_message_and_the_socket_stays(hub: Hub) -> None:
    ws = await connect(hub)
    await start(ws, "1", "subscription { changes { nope } }")
    message = await next_message(ws)
    assert message["type"] == "error"
    assert message["id"] == "1"
    assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    await start(ws, "2", "subscription {")
    message = await next_message(ws)
    assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    await start(ws, "3", CHANGES, filter={"fiscalYear": "twenty"})
    message = await next_message(ws)
    assert (message["id"], message["type"]) == ("3", "error")
    assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    await ws.send(json.dumps({"type": "ping"}))  # still open
    assert json.loads(await ws.recv()) == {"type": "pong"}
    await ws.close()


async def test_a_query_over_the_socket_gets_next_then_complete(hub: Hub) -> None:
    ws = await connect(hub)
    await start(ws, "q", "{ sources { id } }")
    first = await next_message(ws)
    assert first["type"] == "next"
    assert first["id"] == "q"
    assert {s["id"] for s in first["payload"]["data"]["sources"]} >= {"plan"}
    assert await next_message(ws) == {"id": "q", "type": "complete"}
    await ws.close()


async def test_complete_from_the_client_stops_only_that_operation(hub: Hub) -> None:
    feed = hub.app.state.feed
    ws = await connect(hub)
    await start(ws, "a", CHANGES)
    await start(ws, "b", CHANGES, filter={"entities": ["SubActivity"]})
    for _ in range(100):
        if feed.subscribers == 2:
            break
        await asyncio.sleep(0.05)
    await ws.send(json.dumps({"id": "a", "type": "complete"}))
    for _ in range(100):
        if feed.subscribers == 1:
            break
        await asyncio.sleep(0.05)
    assert feed.subscribers == 1
    change_plan(hub.estate, 8_000_000, 90)
    await hub.estate.sync()
    message = await next_message(ws)
    assert message["id"] == "b"
    assert message["type"] == "next"
    with pytest.raises(TimeoutError):
        await next_message(ws, wait=1)  # nothing for "a"
    await ws.close()


SMALL = "subscription ($filter: ChangeFilter) { changes(filter: $filter) { cursor entity op } }"
WITH_SOURCE = """
subscription ($filter: ChangeFilter, $withSource: Boolean!) {
  changes(filter: $filter) { cursor entity source @include(if: $withSource) { id } }
}
"""


async def test_each_event_is_rendered_once_per_document_not_per_subscriber(hub: Hub) -> None:
    live = hub.app.state.live
    feed = hub.app.state.feed
    sockets = []
    # 30 subscribers of one document with filters that all match (differently worded),
    # 10 of another, and 2 + 2 of a third whose selection depends on a variable.
    filters = [None, {"regionCode": "53"}, {"entities": ["SubActivity"]}]
    for n in range(30):
        ws = await connect(hub)
        await start(ws, "1", SMALL, filter=filters[n % 3])
        sockets.append((ws, "small"))
    for _ in range(10):
        ws = await connect(hub)
        await start(ws, "1", CHANGES)
        sockets.append((ws, "changes"))
    for n in range(4):
        ws = await connect(hub)
        await start(ws, "1", WITH_SOURCE, withSource=n % 2 == 0)
        sockets.append((ws, f"source-{n % 2 == 0}"))
    for _ in range(200):
        if feed.subscribers == len(sockets):
            break
        await asyncio.sleep(0.05)
    assert feed.subscribers == len(sockets)
    before = live.renders
    change_plan(hub.estate, 8_100_000, 91)
    await hub.estate.sync()
    received: dict[str, list[dict[str, Any]]] = {}
    for ws, kind in sockets:
        [event] = await events(ws, 1)
        received.setdefault(kind, []).append(event)
        await ws.close()
    assert live.renders - before == 4  # small, changes, source on, source off
    for kind, got in received.items():
        assert all(event == got[0] for event in got), kind
    assert received["small"][0]["entity"] == "SubActivity"
    assert received["source-True"][0]["source"] == {"id": "plan"}
    assert "source" not in received["source-False"][0]
    assert received["changes"][0]["source"] == {"id": "plan", "status": "OK"}


class TestOnAPlainAsgiServer:
    """Without hub/serving/server.py's extension (another ASGI server, or uvicorn's own protocol)
    frames go one by one: same messages, same order."""

    @pytest.fixture
    def ws_protocol(self) -> Any:
        return "auto"

    async def test_a_burst_arrives_whole_and_in_order(self, hub: Hub) -> None:
        ws = await connect(hub)
        await start(ws, "1", SMALL)
        await start(ws, "2", SMALL, filter={"entities": ["Payment"]})
        await asyncio.sleep(0.3)
        hub.estate.execute(hub.estate.finance, "UPDATE sp2d SET nilai = nilai + 3")
        await hub.estate.sync()
        got: dict[str, list[str]] = {"1": [], "2": []}
        while len(got["1"]) < 5 or len(got["2"]) < 5:
            message = await next_message(ws)
            assert message["type"] == "next", message
            got[message["id"]].append(message["payload"]["data"]["changes"]["cursor"])
        assert got["1"] == got["2"]
        positions = [parse_cursor(c) for c in got["1"]]
        assert positions == sorted(set(positions))
        await ws.close()

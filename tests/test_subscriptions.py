"""Subscription.changes over graphql-transport-ws, with a real WebSocket client and server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from hub.db import asyncpg_dsn
from hub.events.changelog import Change
from hub.events.outbox import CURSOR_KIND
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.serving.live import STREAM_AHEAD
from hub.serving.server import LiveProtocol
from hub.settings import Settings
from hub.store.codec import encode_cursor
from hub.sync.bindings import BY_ENTITY
from hub.sync.writer import Writer
from tests.conftest import Server, running
from tests.test_sync import SA, Estate, build_estate

CHANGES = """
subscription ($filter: ChangeFilter, $after: String) {
  changes(filter: $filter, after: $after) {
    cursor entity entityId op regionCode opdCode fiscalYear changedFields occurredAt
    source { id status }
  }
}
"""


@dataclass
class Hub:
    estate: Estate
    url: str
    app: Any

    def subscribe(
        self, variables: dict[str, Any] | None = None
    ) -> AbstractAsyncContextManager[websockets.ClientConnection]:
        return subscribe(self.url, variables or {})


@asynccontextmanager
async def subscribe(
    url: str,
    variables: dict[str, Any],
    *,
    wait_for_server: bool = False,
    query: str = CHANGES,
    key: str | None = None,
) -> AsyncIterator[websockets.ClientConnection]:
    """A graphql-transport-ws connection with one subscription (`changes`) started."""
    protocols = [websockets.Subprotocol("graphql-transport-ws")]
    for attempt in range(300 if wait_for_server else 1):
        try:
            connection = await websockets.connect(url, subprotocols=protocols)
            break
        except OSError:
            if attempt == 299 or not wait_for_server:
                raise
            await asyncio.sleep(0.1)
    async with connection as ws:
        init: dict[str, Any] = {"type": "connection_init"}
        if key is not None:
            init["payload"] = {"Authorization": f"Bearer {key}"}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": query, "variables": variables}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        yield ws


async def next_message(ws: websockets.ClientConnection, wait: float = 30) -> dict[str, Any]:
    """The next non-ping message; `wait` only keeps a broken server from hanging the run."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        if message["type"] != "pong":
            return dict(message)


async def events(ws: websockets.ClientConnection, count: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        message = await next_message(ws)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        out.append(message["payload"]["data"]["changes"])
    return out


@pytest.fixture
def ws_protocol() -> Any:
    """The WebSocket protocol `rantai serve` runs (frames coalesced per socket)."""
    return LiveProtocol


@pytest.fixture
async def hub(server: Server, tmp_path: Path, ws_protocol: Any) -> AsyncIterator[Hub]:
    url = await server.create_database("rantai_live")
    await run_async(url, "upgrade", "head")
    estate = build_estate(tmp_path / "estate", url)
    await estate.sync()
    app = create_app(url, Settings(database_url=url))
    async with running(app, ws=ws_protocol) as port:
        yield Hub(estate, f"ws://127.0.0.1:{port}/graphql", app)


def change_plan(estate: Estate, pagu: int, versi: int) -> None:
    estate.execute(
        estate.plan, "UPDATE subkeg SET pagu = ?, versi = ? WHERE kode = ?", pagu, versi, SA
    )


async def test_a_change_synced_reaches_a_live_subscriber(hub: Hub) -> None:
    async with hub.subscribe() as ws:
        await asyncio.sleep(0.2)  # subscribed before the change
        change_plan(hub.estate, 7_000_000, 80)
        await hub.estate.sync()
        [event] = await events(ws, 1)
    assert event["entity"] == "SubActivity"
    assert event["op"] == "UPDATED"
    assert event["changedFields"] == ["plannedAmount"]
    assert (event["regionCode"], event["fiscalYear"]) == ("53", 2025)
    assert event["opdCode"] == "1.02.0.00.0.00.01.0000"
    assert event["source"] == {"id": "plan", "status": "OK"}


async def test_resume_with_after_replays_the_missed_events_then_goes_live(hub: Hub) -> None:
    async with hub.subscribe() as ws:
        await asyncio.sleep(0.2)
        change_plan(hub.estate, 7_100_000, 81)
        await hub.estate.sync()
        [seen] = await events(ws, 1)
    # While disconnected: every payment changes (5 events).
    hub.estate.execute(hub.estate.finance, "UPDATE sp2d SET nilai = nilai + 7")
    await hub.estate.sync()
    async with hub.subscribe({"after": seen["cursor"]}) as ws:
        missed = await events(ws, 5)
        assert {e["entity"] for e in missed} == {"Payment"}
        cursors = [e["cursor"] for e in missed]
        assert len(set(cursors)) == 5
        change_plan(hub.estate, 7_200_000, 82)  # then live, on the same subscription
        await hub.estate.sync()
        [live] = await events(ws, 1)
    assert live["entity"] == "SubActivity"
    assert live["cursor"] not in cursors


async def test_filters(hub: Hub) -> None:
    variables = {"filter": {"entities": ["Payment"], "regionCode": "53", "fiscalYear": 2025}}
    async with hub.subscribe(variables) as ws:
        await asyncio.sleep(0.2)
        change_plan(hub.estate, 7_300_000, 83)  # a SubActivity change: filtered out
        hub.estate.execute(
            hub.estate.finance, "UPDATE sp2d SET nilai = nilai + 1 WHERE nomor LIKE '00001/%'"
        )
        await hub.estate.sync()
        [event] = await events(ws, 1)
        assert event["entity"] == "Payment"
    async with hub.subscribe({"filter": {"fiscalYear": 2031}}) as ws:
        await asyncio.sleep(0.2)
        change_plan(hub.estate, 7_400_000, 84)
        await hub.estate.sync()
        with pytest.raises(TimeoutError):
            await next_message(ws, wait=1.5)


@pytest.mark.parametrize(("after", "code"), [("not-a-cursor", "BAD_CURSOR")])
async def test_a_bad_cursor_is_refused_with_its_code(hub: Hub, after: str, code: str) -> None:
    async with hub.subscribe({"after": after}) as ws:
        message = await next_message(ws)
    assert message["type"] == "error", message  # ends the operation, nothing follows
    assert message["payload"][0]["extensions"]["code"] == code


async def test_an_expired_cursor_is_refused(hub: Hub) -> None:
    async with hub.subscribe() as ws:
        await asyncio.sleep(0.2)
        change_plan(hub.estate, 7_500_000, 85)
        await hub.estate.sync()
        [seen] = await events(ws, 1)
    change_plan(hub.estate, 7_600_000, 86)  # an event after the cursor …
    await hub.estate.sync()
    rows = await hub.estate.fetch("SELECT max(id) FROM outbox")
    # … that retention then pruned.
    await hub.estate.fetch("DELETE FROM outbox WHERE id <= $1", rows[0][0])
    await hub.estate.fetch("UPDATE outbox_horizon SET pruned_through = $1", rows[0][0])
    async with hub.subscribe({"after": seen["cursor"]}) as ws:
        message = await next_message(ws)
    assert message["type"] == "error", message
    assert message["payload"][0]["extensions"]["code"] == "CURSOR_EXPIRED"


async def test_a_subscriber_that_disconnects_leaves_nothing_behind(hub: Hub) -> None:
    feed = hub.app.state.feed
    before = set(asyncio.all_tasks())

    def left() -> list[str]:
        """Tasks started since `before` that are still running (the test's own excluded)."""
        current = asyncio.current_task()
        return sorted(
            f"{t.get_name()}: {t.get_coro()!r}"[:160]
            for t in asyncio.all_tasks() - before
            if t is not current and not t.done()
        )

    for _ in range(5):
        async with hub.subscribe() as ws:
            await asyncio.sleep(0.1)
            assert feed.subscribers >= 1
            await ws.close()
    for _ in range(200):  # the server notices the closed sockets
        if feed.subscribers == 0 and not left():
            break
        await asyncio.sleep(0.05)
    assert feed.subscribers == 0
    assert left() == []  # no task of a connection, operation, flush or rendering survives


async def test_a_long_replay_leaves_the_store_to_everyone_else(hub: Hub) -> None:
    """A subscriber resuming from far back replays every event it missed, in order, none
    of them an error; meanwhile queries are answered on a pool of 2 (and as many again in
    overflow), and it never has more than STREAM_AHEAD renderings running at once."""
    store = hub.estate.store_url
    conn = await asyncpg.connect(asyncpg_dsn(store))
    try:
        start = await conn.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
        payments = [r["id"] for r in await conn.fetch("SELECT id FROM payment ORDER BY id")]
        async with conn.transaction():
            changes = [
                Change(payment, f"k{n}", "UPDATED", {"amount": str(n)}, {"amount": str(n + 1)})
                for n, payment in enumerate(payments * (300 // len(payments) + 1))
                if n < 300
            ]
            await Writer(conn, "finance").record(BY_ENTITY["payment"], changes)
    finally:
        await conn.close()
    app = create_app(store, Settings(database_url=store, pool_size=2))
    async with running(app) as port:
        after = encode_cursor(CURSOR_KIND, [start])
        async with (
            subscribe(f"ws://127.0.0.1:{port}/graphql", {"after": after}) as ws,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            queries = []
            replayed: list[dict[str, Any]] = []
            while len(replayed) < 300:
                replayed += await events(ws, 50)
                answer = await client.post("/graphql", json={"query": "{ regions { code } }"})
                queries.append(answer.json())
        live = app.state.api.subscriptions
    assert [e["entity"] for e in replayed] == ["Payment"] * 300
    assert [e["source"] for e in replayed] == [{"id": "finance", "status": "OK"}] * 300
    cursors = [e["cursor"] for e in replayed]
    assert len(set(cursors)) == 300
    assert all("errors" not in q and q["data"]["regions"] for q in queries)
    assert 1 <= live.rendering_peak <= STREAM_AHEAD

"""What an outside security test of the production hub found, each shown fixed: socket
messages and caches bounded, credentials checked for as long as a socket lives, subscription
errors masked, the audit chain hashing what it stores, settings with a closed set of values,
one bad filter never stopping the feed, connection limits, and the smaller leaks."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from hub.auth import keys
from hub.auth.audit import append, verify
from hub.db import asyncpg_dsn
from hub.events.changelog import Change
from hub.events.feed import ChangeFeed, ChangeFilter, SubscriberFailed
from hub.serving.app import create_app
from hub.serving.documents import Documents, Limits
from hub.store.scope import Scope
from hub.sync.bindings import BY_ENTITY
from hub.sync.writer import Writer
from schema import schema
from tests.conftest import Server, running
from tests.test_security import FY, SECRET_KEY, _make_keys, _seeded, _token, secure_settings

PROTOCOLS = [websockets.Subprotocol("graphql-transport-ws")]


@dataclass
class Served:
    port: int
    dsn: str
    keys: dict[str, str]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def socket(self, key: str | None = None) -> websockets.ClientConnection:
        ws = await websockets.connect(self.ws_url, subprotocols=PROTOCOLS, max_size=None)
        init: dict[str, Any] = {"type": "connection_init"}
        if key is not None:
            init["payload"] = {"Authorization": f"Bearer {key}"}
        await ws.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        return ws


@pytest.fixture(scope="module")
async def store(server: Server) -> str:
    url = await _seeded(server, "rantai_hardening")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # Every source owned by an OPD, and an open finding on one sub kegiatan: paths the
        # tests below walk.
        await conn.execute("UPDATE source SET owner_opd_id = (SELECT min(id) FROM opd)")
        await conn.execute(
            """INSERT INTO discrepancy (rule, subject_key, severity, message, fiscal_year,
                                        region_id, opd_id, sub_activity_id, evidence)
            SELECT 'PLAN_WITHOUT_BUDGET', 'test/sa/' || s.id, 'INFO', 'uji', s.fiscal_year,
                   s.region_id, s.opd_id, s.id, '[]' FROM sub_activity s ORDER BY s.id LIMIT 1"""
        )
    finally:
        await conn.close()
    return url


async def _serve(store: str, **overrides: Any) -> AsyncIterator[Served]:
    dsn = asyncpg_dsn(store)
    made = await _make_keys(dsn, "1.02.0.00.0.00.01.0000")
    app = create_app(store, secure_settings(store, **overrides))
    async with running(app) as port:
        yield Served(port, dsn, made)


@pytest.fixture
async def hub(store: str) -> AsyncIterator[Served]:
    async for served in _serve(store, reauthenticate_seconds=0.5):
        yield served


async def closed_with(ws: websockets.ClientConnection, wait: float = 10) -> int | None:
    async def drain() -> None:
        while True:
            await asyncio.wait_for(ws.recv(), wait)

    with pytest.raises(ConnectionClosed):
        await drain()
    return ws.close_code


async def write_payment_change(dsn: str) -> None:
    """A change the sync would write: one payment's amount, with its outbox row."""
    conn = await asyncpg.connect(dsn)
    try:
        payment = await conn.fetchval("SELECT id FROM payment ORDER BY id LIMIT 1")
        async with conn.transaction():
            change = Change(payment, f"k{payment}", "UPDATED", {"amount": "1"}, {"amount": "2"})
            await Writer(conn, "bpkad-keuangan").record(BY_ENTITY["payment"], [change])
    finally:
        await conn.close()


# --- WebSocket messages and the document cache ----------------------------------------------


async def test_a_websocket_message_over_the_body_limit_closes_with_1009(hub: Served) -> None:
    ws = await hub.socket()
    comment = "#" + "x" * 200_000 + "\n"
    payload = {"query": comment + "{ __typename }"}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    assert await closed_with(ws) == 1009


async def test_the_hub_checks_message_size_itself_behind_any_server(store: str) -> None:
    app = create_app(store, secure_settings(store))
    async with running(app, ws_max_size=16 * 1024 * 1024) as port:  # uvicorn's default
        served = Served(port, asyncpg_dsn(store), {})
        ws = await served.socket()
        payload = {"query": "#" + "x" * 200_000 + "\n{ __typename }"}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        assert await closed_with(ws) == 1009


def test_the_document_cache_is_bounded_by_bytes_and_keeps_no_refusals() -> None:
    documents = Documents(schema, Limits(), max_bytes=200_000)
    for i in range(50):  # refused (unknown field): never kept
        documents.get(f"{{ nope{i} }}")
    assert len(documents) == 0
    for i in range(100):  # distinct valid documents of ~10 kB each
        documents.get("{ __typename }\n#" + str(i) + "x" * 10_000)
    assert documents.bytes <= 200_000
    assert 0 < len(documents) <= 20


def test_the_document_cache_counts_what_parsed_documents_weigh() -> None:
    """Short documents of many tokens weigh far more parsed than as text: the cache's
    bound holds for the memory it really takes."""
    budget = 2_000_000
    documents = Documents(schema, Limits(), max_bytes=budget)
    documents.get("{ __typename }")  # the validator's own first-use allocations
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(400):  # 25 aliased fields: ~700 characters, ~100 tokens each
            documents.get("{ " + " ".join(f"a{i}x{j}: __typename" for j in range(25)) + " }")
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(documents) < 400  # some were evicted
    assert held <= 1.25 * budget


async def test_subscribe_variables_are_audited_by_hash_and_size(hub: Served) -> None:
    ws = await hub.socket(hub.keys["province"])
    variables = {"x": "y" * 50_000}
    payload = {"query": "subscription { changes { entity } }", "variables": variables}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    await asyncio.sleep(0.5)
    await ws.close()
    conn = await asyncpg.connect(hub.dsn)
    try:
        detail = json.loads(
            await conn.fetchval(
                "SELECT detail FROM audit_log WHERE kind = 'subscribe' ORDER BY id DESC LIMIT 1"
            )
        )
    finally:
        await conn.close()
    assert detail["variables"]["bytes"] > 50_000
    assert len(detail["variables"]["sha256"]) == 64
    assert "yyyy" not in json.dumps(detail)


async def test_a_subscription_refused_at_once_is_audited_with_its_code(hub: Served) -> None:
    """A bad resume cursor refuses the subscription itself: the client gets the error as
    the operation's answer, and the audit record says BAD_CURSOR, not a stream opened."""
    ws = await hub.socket(hub.keys["province"])
    payload = {"query": 'subscription { changes(after: "not-a-cursor") { entity } }'}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "BAD_CURSOR"
    await ws.close()
    conn = await asyncpg.connect(hub.dsn)
    try:
        detail = json.loads(
            await conn.fetchval(
                "SELECT detail FROM audit_log WHERE kind = 'subscribe' ORDER BY id DESC LIMIT 1"
            )
        )
    finally:
        await conn.close()
    assert (detail["outcome"], detail["errors"]) == ("BAD_CURSOR", 1)


# --- credentials on open sockets ------------------------------------------------------------


async def test_a_revoked_key_closes_its_open_sockets_at_once(hub: Served) -> None:
    conn = await asyncpg.connect(hub.dsn)
    try:
        key, prefix = await keys.create(conn, SECRET_KEY, "province", label="to revoke")
    finally:
        await conn.close()
    ws = await hub.socket(key)
    subscribe = {"query": "subscription { changes { entity } }"}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
    conn = await asyncpg.connect(hub.dsn)
    try:
        assert await keys.revoke(conn, SECRET_KEY, prefix)
    finally:
        await conn.close()
    assert await closed_with(ws, wait=5) == 4403


async def test_an_operation_after_revocation_is_refused(store: str) -> None:
    async for hub in _serve(store, reauthenticate_seconds=3600):  # no periodic check
        conn = await asyncpg.connect(hub.dsn)
        try:
            key, prefix = await keys.create(conn, SECRET_KEY, "province", label="to revoke")
            ws = await hub.socket(key)
            # Revoked without telling anyone (as if the broker's message were lost).
            await conn.execute("UPDATE api_key SET revoked_at = now() WHERE prefix = $1", prefix)
        finally:
            await conn.close()
        query = {"query": "{ sources { id } }"}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
        assert await closed_with(ws) == 4403


async def test_a_token_that_expires_closes_its_socket(hub: Served) -> None:
    token = _token(role="province", exp=int(time.time()) + 2)
    ws = await hub.socket(token)
    subscribe = {"query": "subscription { changes { entity } }"}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
    assert await closed_with(ws, wait=8) == 4403


# --- subscription errors ---------------------------------------------------------------------


async def test_errors_in_events_have_codes_and_no_sql(store: str) -> None:
    async for hub in _serve(store, env="production"):
        ws = await hub.socket(hub.keys["province"])
        # A cursor whose id is a string: PostgreSQL used to fail the statement and the
        # client got its full SQL text.
        bad = "WyIxLjAyLjAuMDAuMC4wMC4wMS4wMDAwIiwieCJd"
        query = (
            'subscription { changes(filter: {entities: ["Payment"]}) { source { owner { '
            f'subActivities(fiscalYear: {FY}, after: "{bad}") {{ totalCount }} }} }} }} }}'
        )
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        await asyncio.sleep(0.5)
        await write_payment_change(hub.dsn)
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["type"] == "next"
        text = json.dumps(message)
        assert message["payload"]["errors"][0]["extensions"]["code"] == "BAD_CURSOR", message
        assert "SELECT" not in text
        assert "operator" not in text
        await ws.close()


async def test_an_unexpected_error_in_an_event_is_masked(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schema import changes

    async def broken(*_: Any) -> Any:
        raise RuntimeError("SELECT secret FROM pg_shadow")

    monkeypatch.setattr(changes, "_shared_row", broken)
    async for hub in _serve(store, env="production"):
        ws = await hub.socket(hub.keys["province"])
        query = 'subscription { changes(filter: {entities: ["Payment"]}) { source { id } } }'
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        await asyncio.sleep(0.5)
        await write_payment_change(hub.dsn)
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["payload"]["errors"][0]["message"] == "Internal server error."
        assert "pg_shadow" not in json.dumps(message)
        await ws.close()


# --- the audit chain ------------------------------------------------------------------------


async def test_the_audit_chain_hashes_what_it_stores(server: Server) -> None:
    url = await server.create_database("rantai_audit_text")
    from hub.migrate import run_async

    await run_async(url, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for detail in ({"x": -0.0}, {"x": 1e300, "y": [1.0, -0]}, {"é": "ü"}, {}):
            await append(conn, SECRET_KEY, "subscribe", "key:abcd1234", detail)
        assert (await verify(conn, SECRET_KEY)).intact
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM audit_log ORDER BY id")]
        await conn.execute("UPDATE audit_log SET actor = 'x' WHERE id = $1", ids[0])
        await conn.execute("UPDATE audit_log SET kind = 'request' WHERE id = $1", ids[2])
        await conn.execute("DELETE FROM audit_log WHERE id = $1", ids[1])
        report = await verify(conn, SECRET_KEY)
    finally:
        await conn.close()
    assert report.checked == 3
    assert report.problems == [
        (ids[0], "its content does not match its hash"),
        (ids[2], "its prev_hash is not the previous record's hash"),
        (ids[2], "its content does not match its hash"),
    ]


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["Production", "prod", ""])
def test_an_unknown_environment_refuses_to_start(value: str) -> None:
    env = {**os.environ, "RANTAI_ENV": value}
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "keys", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "RANTAI_ENV" in lines[0]
    assert "'development' or 'production'" in lines[0]


# --- the shared feed ------------------------------------------------------------------------


class ExplodingScope(Scope):
    def sees_event(self, event: Any) -> bool:
        raise TypeError("a filter that cannot be matched")


async def test_one_filter_that_fails_never_stalls_the_feed(store: str) -> None:
    dsn = asyncpg_dsn(store)
    feed = ChangeFeed(dsn, poll_seconds=0.2)
    await feed.start()
    try:
        broken = feed.subscribe(ChangeFilter(scope=ExplodingScope("boom")), None)
        healthy = feed.subscribe(ChangeFilter(entities=frozenset({"Payment"})), None)
        failing = asyncio.create_task(anext(broken))
        arriving = asyncio.create_task(anext(healthy))
        await asyncio.sleep(0.5)
        await write_payment_change(dsn)
        event = await asyncio.wait_for(arriving, 10)
        assert event.entity == "Payment"
        with pytest.raises(SubscriberFailed):
            await asyncio.wait_for(failing, 10)
        await write_payment_change(dsn)  # and the feed goes on
        assert (await asyncio.wait_for(anext(healthy), 10)).entity == "Payment"
        await healthy.aclose()
    finally:
        await feed.stop()


# --- what the public sees -------------------------------------------------------------------


async def test_has_discrepancies_reveals_nothing_to_the_public(hub: Served) -> None:
    query = (
        f"{{ subActivities(filter: {{fiscalYear: {FY}, hasDiscrepancies: true}}) "
        "{ totalCount } discrepancies { totalCount } }"
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.port}") as client:
        public = (await client.post("/graphql", json={"query": query})).json()
        province = (
            await client.post(
                "/graphql",
                json={"query": query},
                headers={"Authorization": f"Bearer {hub.keys['province']}"},
            )
        ).json()
    assert public["data"] == {
        "subActivities": {"totalCount": 0},
        "discrepancies": {"totalCount": 0},
    }
    assert province["data"]["subActivities"]["totalCount"] > 0


# --- connections ------------------------------------------------------------------------------


async def test_headers_that_never_finish_are_cut_off(store: str) -> None:
    async for hub in _serve(store, header_timeout_seconds=0.5):
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        closed = False
        async with asyncio.timeout(10):  # only keeps a regression from hanging the run
            while not closed:  # a slowloris client: one more header line now and then
                try:
                    writer.write(b"X-Slow: 1\r\n")
                    await writer.drain()
                    closed = not await asyncio.wait_for(reader.read(100), 0.2)
                except TimeoutError:
                    continue
                except ConnectionError:
                    closed = True
        assert closed
        writer.close()


async def test_a_body_that_never_finishes_gets_408(store: str) -> None:
    async for hub in _serve(store, body_timeout_seconds=0.5):
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.read(200), 10)
        assert head.startswith(b"HTTP/1.1 408")
        writer.close()


async def test_sockets_per_address_are_capped(store: str) -> None:
    async for hub in _serve(store, ws_max_connections_per_address=3):
        open_ = [await hub.socket() for _ in range(3)]
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(hub.ws_url, subprotocols=PROTOCOLS)
        assert refused.value.response.status_code == 403
        await open_[0].close()
        await asyncio.sleep(0.2)
        again = await hub.socket()  # a closed one frees its place
        for ws in [*open_[1:], again]:
            await ws.close()


# --- smaller leaks --------------------------------------------------------------------------


async def test_graphiql_where_keys_are_typed_sends_protective_headers(store: str) -> None:
    app = create_app(store, secure_settings(store))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "GraphiQL" in page.text or "graphiql" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"


async def test_readyz_names_no_database_error(server: Server) -> None:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    unused = port.getsockname()[1]
    port.close()
    url = f"postgresql+asyncpg://nobody:secret@127.0.0.1:{unused}/nothing"
    app = create_app(url, secure_settings(url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable"}


async def test_pages_where_keys_are_pasted_send_protective_headers(store: str) -> None:
    app = create_app(store, secure_settings(store, env="production"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            page = await client.get("/dashboard")
            graphiql = await client.get("/static/graphiql/index.html")
            variants = [
                (await client.get(path)).status_code
                for path in (
                    "/static//graphiql/index.html",
                    "/static/graphiql/./index.html",
                    "/static/x/../graphiql/index.html",
                    "/static/graphiql//index.html",
                )
            ]
            bundle = await client.get("/static/graphiql/graphiql.min.css")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert graphiql.status_code == 404  # /graphql is 404 for them in production too
    assert variants == [404] * 4  # however the path is spelled
    assert bundle.status_code == 200

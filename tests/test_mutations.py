"""Mutations and the operators' fields: only for the roles they name (HTTP 403 otherwise),
run in one transaction with their audit record, idempotent with a key, typed errors, the
same over HTTP and WebSocket; "sync now" recorded and announced through the broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from hub.auth import keys
from hub.auth.audit import verify
from hub.events.broker import SYNC_CHANNEL
from tests.conftest import Server
from tests.test_request_path import Door, _door, code
from tests.test_security import SECRET_KEY

CREATE = """mutation Create($input: CreateApiKeyInput!, $idem: String) {
  createApiKey(input: $input, idempotencyKey: $idem) {
    key apiKey { prefix role regionCode label revokedAt }
  }
}"""
REVOKE = """mutation Revoke($prefix: String!, $idem: String) {
  revokeApiKey(prefix: $prefix, idempotencyKey: $idem) { apiKey { prefix revokedAt } }
}"""
SYNC_NOW = """mutation Sync($source: String) {
  requestSync(sourceId: $source) { new request { id sourceId requestedBy startedAt } }
}"""
CONSOLE = """{ admin { keys { prefix role } sources { id status waiting { reason rows } }
  auditLog(first: 5) { records { kind actor } hasMore }
  auditVerification { intact checked } compiledDeclines { reason count } } }"""


@pytest.fixture(scope="module")
async def door(server: Server) -> AsyncIterator[Door]:
    async for d in _door(server, "rantai_mutations"):
        conn = await asyncpg.connect(d.dsn)
        try:
            d.keys["admin"], _ = await keys.create(conn, SECRET_KEY, "admin", label="operator")
            await conn.execute(
                "INSERT INTO source (id, name, kind, status) "
                "VALUES ('bpkad-53', 'BPKAD', 'sqlite', 'OK') ON CONFLICT DO NOTHING"
            )
        finally:
            await conn.close()
        yield d


async def rows(door: Door, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(door.dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@pytest.mark.parametrize("role", [None, "province", "regency", "opd"])
async def test_the_console_is_forbidden_with_403_and_no_data_to_non_admins(
    door: Door, role: str | None
) -> None:
    key = door.keys[role] if role else None
    answer = await door.post({"query": CONSOLE}, key)
    assert answer["status"] == 403
    assert code(answer) == "FORBIDDEN"
    assert "data" not in answer
    created = await door.post({"query": CREATE, "variables": {"input": {"role": "province"}}}, key)
    assert (created["status"], code(created)) == (403, "FORBIDDEN")


async def test_an_admin_key_reads_the_console(door: Door) -> None:
    answer = await door.post({"query": CONSOLE}, door.keys["admin"])
    assert answer["status"] == 200, answer
    console = answer["data"]["admin"]
    assert {k["role"] for k in console["keys"]} == {"province", "regency", "opd", "admin"}
    assert "bpkad-53" in [s["id"] for s in console["sources"]]
    assert console["auditVerification"]["intact"] is True
    assert console["auditLog"]["records"][0]["kind"] in ("request", "key.create")


@pytest.mark.parametrize("transport", ["http", "websocket"])
async def test_a_key_made_by_mutation_works_and_is_audited_in_its_transaction(
    door: Door, transport: str
) -> None:
    made_for = {"role": "regency", "regionCode": "53.01", "label": transport}
    answer = await door.run(transport, CREATE, {"input": made_for}, key=door.keys["admin"])
    made = answer["data"]["createApiKey"]
    assert made["apiKey"]["role"] == "regency"
    assert made["apiKey"]["revokedAt"] is None
    assert made["key"].startswith(made["apiKey"]["prefix"] + "_")
    works = await door.post({"query": "{ regions { code } }"}, made["key"])
    assert works["status"] == 200
    prefix = made["apiKey"]["prefix"].removeprefix("rk_")
    [record] = await rows(
        door, "SELECT actor, detail FROM audit_log WHERE kind = 'key.create' AND "
        "detail->>'prefix' = $1", prefix,
    )  # fmt: skip
    admin_prefix = keys.prefix_of(door.keys["admin"])
    assert record["actor"] == f"key:{admin_prefix}"
    detail = json.loads(record["detail"])
    assert detail["mutation"] == "createApiKey"
    assert made["key"] not in record["detail"]


async def test_an_admin_key_cannot_be_made_through_the_api(door: Door) -> None:
    before = await rows(door, "SELECT count(*) AS n FROM api_key")
    answer = await door.post(
        {"query": CREATE, "variables": {"input": {"role": "admin"}}}, door.keys["admin"]
    )
    assert code(answer) == "FORBIDDEN"
    assert "rantai keys create --role admin" in answer["errors"][0]["message"]
    assert await rows(door, "SELECT count(*) AS n FROM api_key") == before


async def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(door: Door) -> None:
    body = {"query": CREATE, "variables": {"input": {"role": "province"}, "idem": "retry-1"}}
    first = await door.post(body, door.keys["admin"])
    audit_before = await rows(door, "SELECT count(*) AS n FROM audit_log WHERE kind='key.create'")
    again = await door.post(body, door.keys["admin"])
    assert again["data"] == first["data"]
    made = await rows(door, "SELECT count(*) AS n FROM api_key WHERE role = 'province'")
    assert made[0]["n"] == 2  # the fixture's and this one, not a third
    audit_after = await rows(door, "SELECT count(*) AS n FROM audit_log WHERE kind='key.create'")
    assert audit_after == audit_before


async def test_the_same_idempotency_key_with_another_input_is_refused_and_changes_nothing(
    door: Door,
) -> None:
    admin = door.keys["admin"]
    body = {"query": CREATE, "variables": {"input": {"role": "public"}, "idem": "reuse-1"}}
    await door.post(body, admin)
    before = await rows(door, "SELECT count(*) AS n FROM api_key")
    other = {"query": CREATE, "variables": {"input": {"role": "province"}, "idem": "reuse-1"}}
    answer = await door.post(other, admin)
    assert code(answer) == "IDEMPOTENCY_KEY_REUSED"
    assert answer["data"] is None
    assert await rows(door, "SELECT count(*) AS n FROM api_key") == before


async def test_revoking_names_missing_and_already_revoked_keys_with_their_codes(
    door: Door,
) -> None:
    admin = door.keys["admin"]
    missing = await door.post({"query": REVOKE, "variables": {"prefix": "rk_00000000"}}, admin)
    assert code(missing) == "NOT_FOUND"
    made = await door.post({"query": CREATE, "variables": {"input": {"role": "public"}}}, admin)
    key = made["data"]["createApiKey"]["key"]
    prefix = made["data"]["createApiKey"]["apiKey"]["prefix"]
    revoked = await door.post({"query": REVOKE, "variables": {"prefix": prefix}}, admin)
    assert revoked["data"]["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    assert (await door.post({"query": "{ regions { code } }"}, key))["status"] == 401
    twice = await door.post({"query": REVOKE, "variables": {"prefix": prefix}}, admin)
    assert code(twice) == "CONFLICT"


async def test_mutations_are_refused_over_get(door: Door) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{door.port}") as client:
        response = await client.get(
            "/graphql",
            params={"query": SYNC_NOW},
            headers={"Authorization": f"Bearer {door.keys['admin']}"},
        )
    assert response.status_code == 405


async def test_sync_now_is_recorded_and_announced_once_while_it_waits(door: Door) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(door.dsn)
    await listener.add_listener(SYNC_CHANNEL, lambda *args: heard.put_nowait(args[-1]))
    try:
        first = await door.post(
            {"query": SYNC_NOW, "variables": {"source": "bpkad-53"}}, door.keys["admin"]
        )
        request = first["data"]["requestSync"]
        assert request["new"] is True
        assert request["request"]["startedAt"] is None
        assert request["request"]["requestedBy"].startswith("key:")
        assert await asyncio.wait_for(heard.get(), 5) == request["request"]["id"]
        again = await door.post(
            {"query": SYNC_NOW, "variables": {"source": "bpkad-53"}}, door.keys["admin"]
        )
        assert again["data"]["requestSync"]["new"] is False
        assert again["data"]["requestSync"]["request"]["id"] == request["request"]["id"]
        assert heard.empty()
        unknown = await door.post(
            {"query": SYNC_NOW, "variables": {"source": "nope"}}, door.keys["admin"]
        )
        assert code(unknown) == "NOT_FOUND"
    finally:
        await listener.close()


async def test_every_mutation_keeps_the_audit_chain_intact(door: Door) -> None:
    conn = await asyncpg.connect(door.dsn)
    try:
        report = await verify(conn, SECRET_KEY)
        kinds = {r["kind"] for r in await conn.fetch("SELECT DISTINCT kind FROM audit_log")}
    finally:
        await conn.close()
    assert report.intact, report.problems
    assert {"key.create", "key.revoke", "sync.request"} <= kinds


async def test_the_console_is_forbidden_over_the_websocket_too(door: Door) -> None:
    answer = await door.run("websocket", CONSOLE, key=door.keys["province"])
    assert code(answer) == "FORBIDDEN"
    assert "data" not in answer
    made = await door.run(
        "websocket", CREATE, {"input": {"role": "province"}}, key=door.keys["regency"]
    )
    assert code(made) == "FORBIDDEN"

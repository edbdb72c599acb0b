"""Every rule of docs/security.md, proven on both transports.

The same operation sent over HTTP and over WebSocket must get the same answer (its data, its
error codes, its masking, its audit record), because both go through the one request path
(`hub/serving/request.py`); only the framing differs. Each test runs once per transport,
against a real uvicorn on a loopback port.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from hub.auth.guard import document_hash
from hub.serving.app import create_app
from hub.settings import Settings
from tests.conftest import Server, running
from tests.test_security import FY, _make_keys, _seeded, _token, secure_settings

TRANSPORTS = ["http", "websocket"]
PROTOCOLS = [websockets.Subprotocol("graphql-transport-ws")]


@dataclass
class Door:
    """A hub served by uvicorn, reached over either transport."""

    port: int
    dsn: str
    keys: dict[str, str]
    settings: Settings
    closes: list[int] = field(default_factory=list)

    async def run(
        self,
        transport: str,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The answer as a client of `transport` sees it: the body over HTTP (with its
        status), the `next` payload or the `error` list over WebSocket."""
        if transport == "http":
            return await self.post({"query": query, "variables": variables}, key, headers)
        return await self.subscribe(query, variables, key=key)

    async def post(
        self, body: Any, key: str | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
            response = await client.post("/graphql", json=body, headers=sent, timeout=30)
        answer: dict[str, Any] = response.json()
        answer["status"] = response.status_code
        return answer

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        async with websockets.connect(
            f"ws://127.0.0.1:{self.port}/graphql", subprotocols=PROTOCOLS
        ) as ws:
            init: dict[str, Any] = {"type": "connection_init"}
            if key is not None:
                init["payload"] = {"Authorization": f"Bearer {key}"}
            await ws.send(json.dumps(init))
            try:
                ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
            except ConnectionClosed:
                return {"closed": ws.close_code}
            assert ack["type"] == "connection_ack"
            payload = {"query": query, "variables": variables}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            except ConnectionClosed:
                return {"closed": ws.close_code}
            if message["type"] == "error":
                return {"errors": message["payload"]}
            assert message["type"] == "next", message
            result: dict[str, Any] = message["payload"]
            return result

    async def audit(self) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch("SELECT kind, actor, detail FROM audit_log ORDER BY id")
        finally:
            await conn.close()
        return [{"kind": r["kind"], "actor": r["actor"], **json.loads(r["detail"])} for r in rows]


async def _door(server: Server, name: str, **overrides: Any) -> AsyncIterator[Door]:
    url = await _seeded(server, name)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    keys = await _make_keys(dsn, "1.02.0.00.0.00.01.0000")
    settings = secure_settings(url, **overrides)
    app = create_app(url, settings)
    async with running(app) as port:
        yield Door(port, dsn, keys, settings)


@pytest.fixture(scope="module")
async def door(server: Server) -> AsyncIterator[Door]:
    async for d in _door(server, "rantai_doors"):
        yield d


@pytest.fixture(scope="module")
async def production(server: Server) -> AsyncIterator[Door]:
    async for d in _door(server, "rantai_doors_prod", env="production"):
        yield d


def code(answer: dict[str, Any]) -> str:
    return str(answer["errors"][0]["extensions"]["code"])


CHAIN = """query Chain($fy: Int!) {
  subActivities(filter: {fiscalYear: $fy, regionCode: "53.01"}, first: 20) {
    totalCount
    edges { node { code budget { allocated paid lines { amount } payments { amount } }
      procurementPackages { rupCode tenders { code bids { amount } } } } }
  }
}"""


@pytest.mark.parametrize("role", ["province", "regency", "opd", None])
async def test_both_transports_answer_every_role_alike(door: Door, role: str | None) -> None:
    key = door.keys[role] if role else None
    over_http = await door.run("http", CHAIN, {"fy": FY}, key=key)
    over_ws = await door.run("websocket", CHAIN, {"fy": FY}, key=key)
    assert over_http.pop("status") == 200
    assert over_http == over_ws
    assert "errors" not in over_ws


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_masked_fields_are_null_with_forbidden(door: Door, transport: str) -> None:
    answer = await door.run(
        transport, "{ subActivities(filter: {fiscalYear: 2025}, first: 3) { edges { node { "
        "procurementPackages { tenders { winner { taxId } } } } } } sources { lastError } }",
    )  # fmt: skip
    assert {e["extensions"]["code"] for e in answer["errors"]} == {"FORBIDDEN"}
    assert all(s["lastError"] is None for s in answer["data"]["sources"])


def _bomb(levels: int) -> str:
    spreads = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"query Q {{ ...F0 }} {spreads} fragment F{levels} on Query {{ __typename }}"


LIMITS = [
    ("depth", "{ regions { " + "children { " * 20 + "code" + " }" * 20 + " } }", None,
     "DEPTH_LIMIT_EXCEEDED"),
    ("aliases", "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }", None,
     "ALIAS_LIMIT_EXCEEDED"),
    ("tokens", "{ " + "__typename " * 6000 + "}", None, "TOKEN_LIMIT_EXCEEDED"),
    ("cost", "{ regions { opds(first: 500) { edges { node { subActivities(fiscalYear: 2025, "
     "first: 500) { edges { node { procurementPackages { tenders { bids { amount } } } } } } } "
     "} } } }", None, "COST_LIMIT_EXCEEDED"),
    ("fragment bomb", _bomb(30), None, "COST_LIMIT_EXCEEDED"),
    ("nested variables", "query($v: String) { regions { code } }",
     {"v": "x", "deep": json.loads("[" * 400 + "]" * 400)}, "BAD_USER_INPUT"),
    ("NUL", "query($v: String!) { region(code: $v) { code } }", {"v": "5\u00003"},
     "BAD_USER_INPUT"),
    ("variable type", "query($v: Int!) { subActivities(filter: {fiscalYear: $v}) { totalCount } }",
     {"v": "x"}, "BAD_USER_INPUT"),
    ("null in a directive", "query($v: Boolean = true) { sources { id @skip(if: $v) name } }",
     {"v": None}, "BAD_USER_INPUT"),
    ("unused variable", "query($v: Int) { regions { code } }", {"v": 1},
     "GRAPHQL_VALIDATION_FAILED"),
    ("undefined variable", "{ region(code: $v) { code } }", {"v": "53"},
     "GRAPHQL_VALIDATION_FAILED"),
    ("overflowing id", '{ node(id: "U3ViQWN0aXZpdHk6OTIyMzM3MjAzNjg1NDc3NTgwOQ") { id } }', None,
     "BAD_ID"),
    ("overflowing cursor", '{ opds(after: "WyJPcGQiLCIxIiw5MjIzMzcyMDM2ODU0Nzc1ODA5XQ") '
     "{ totalCount } }", None, "BAD_CURSOR"),
    ("cursor of another shape", '{ opds(after: "WyJPcGQiLCIxIiwieCJd") { totalCount } }', None,
     "BAD_CURSOR"),
]  # fmt: skip


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("name", "query", "variables", "expected"), LIMITS, ids=[case[0] for case in LIMITS]
)
async def test_limits_and_bad_input_are_refused_with_their_code(
    door: Door,
    transport: str,
    name: str,
    query: str,
    variables: dict[str, Any] | None,
    expected: str,
) -> None:
    answer = await door.run(transport, query, variables, key=door.keys["province"])
    assert code(answer) == expected, answer
    assert answer.get("status", 200) == 200


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_fragment_bomb_never_stalls_the_process(door: Door, transport: str) -> None:
    """Refused at once; meanwhile /healthz answers. (The bound only keeps a regression from
    hanging the run: the bomb used to take minutes of the event loop at 30 levels.)"""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{door.port}") as client:
        async with asyncio.timeout(20):
            bomb = asyncio.create_task(door.run(transport, _bomb(30)))
            health = [await client.get("/healthz") for _ in range(5)]
            answer = await bomb
    assert code(answer) == "COST_LIMIT_EXCEEDED"
    assert all(r.status_code == 200 for r in health)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_bad_credential_is_refused_never_anonymous(door: Door, transport: str) -> None:
    answer = await door.run(transport, "{ regions { code } }", key="rk_00000000_" + "x" * 43)
    if transport == "http":
        assert (answer["status"], code(answer)) == (401, "UNAUTHENTICATED")
    else:
        assert answer == {"closed": 4403}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_token_with_claims_of_the_wrong_type_is_refused(door: Door, transport: str) -> None:
    token = _token(role="regency", region=53)
    answer = await door.run(transport, "{ regions { code } }", key=token)
    if transport == "http":
        assert (answer["status"], code(answer)) == (401, "UNAUTHENTICATED")
        assert "region code" in answer["errors"][0]["message"]
    else:
        assert answer == {"closed": 4403}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_failed_credentials_from_one_address_are_throttled(
    server: Server, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    async for door in _door(server, "rantai_throttle", auth_failures_per_minute=3):
        secret = "x" * 43
        answers = [
            await door.run(transport, "{ __typename }", key=f"rk_0000000{i}_{secret}")
            for i in range(5)
        ]
        if transport == "http":
            assert [a["status"] for a in answers] == [401, 401, 401, 429, 429]
            assert code(answers[-1]) == "RATE_LIMITED"
        else:
            assert [a["closed"] for a in answers] == [4403, 4403, 4403, 1013, 1013]
        # A good key from the same address is refused too while throttled: the address,
        # not the key, is what failed.
        throttled = await door.run(transport, "{ __typename }", key=door.keys["province"])
        assert throttled.get("status", throttled.get("closed")) in (429, 1013)
    warnings = [r.getMessage() for r in caplog.records if r.name == "rantai.auth"]
    assert any("127.0.0.1" in w for w in warnings)
    assert not any(secret in w for w in warnings)  # never the presented secret


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_rate_limit_holds_on_both(server: Server, transport: str) -> None:
    async for door in _door(server, "rantai_rate", rate_limit_per_minute=3):
        answers = [await door.run(transport, "{ __typename }") for _ in range(5)]
    assert [a.get("errors", [{}])[0].get("extensions", {}).get("code") for a in answers] == [
        None, None, None, "RATE_LIMITED", "RATE_LIMITED"
    ]  # fmt: skip
    if transport == "http":
        assert answers[-1]["status"] == 429


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_trusted_documents_only_on_both(
    server: Server, transport: str, tmp_path: Path
) -> None:
    known = "{ regions { code } }"
    manifest = tmp_path / "trusted.json"
    manifest.write_text(json.dumps({document_hash(known): known}))
    async for door in _door(server, "rantai_trusted", trusted_documents=manifest):
        allowed = await door.run(transport, known)
        other = await door.run(transport, "{ sources { id } }")
        live = await door.run(transport, "subscription { changes { entity } }")
    assert len(allowed["data"]["regions"]) == 3
    assert code(other) == code(live) == "TRUSTED_DOCUMENT_REQUIRED"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_production_hides_the_schema_and_suggestions(
    production: Door, transport: str
) -> None:
    anonymous = await production.run(transport, "{ __schema { queryType { name } } }")
    assert code(anonymous) == "GRAPHQL_VALIDATION_FAILED"
    known = await production.run(
        transport, "{ __schema { queryType { name } } }", key=production.keys["province"]
    )
    assert known["data"]["__schema"]["queryType"]["name"] == "Query"
    typo = await production.run(transport, "{ regionz { code } }")
    assert code(typo) == "GRAPHQL_VALIDATION_FAILED"
    assert "Did you mean" not in json.dumps(typo)
    mistyped = [
        ("query($f: SubActivityFilter!) { subActivities(filter: $f) { totalCount } }",
         {"f": {"fiscalYar": 2025}}),
    ]  # fmt: skip
    if transport == "websocket":  # subscriptions run over the socket only
        mistyped.append(
            ("subscription($f: ChangeFilter) { changes(filter: $f) { entity } }",
             {"f": {"regionCod": "53"}})
        )  # fmt: skip
    for document, variables in mistyped:
        answer = await production.run(
            transport, document, variables, key=production.keys["province"]
        )
        assert code(answer) == "BAD_USER_INPUT"
        assert "Did you mean" not in json.dumps(answer)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_production_masks_unexpected_errors_on_both(
    production: Door, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolvers.summaries import SummaryLoader

    async def broken(*_: Any) -> Any:
        raise RuntimeError("SELECT secret FROM pg_shadow at db-7")

    # A summary asked twice under one response key is answered by the resolvers (the
    # compiled path declines it), so the failure comes from a resolver's loader.
    monkeypatch.setattr(SummaryLoader, "_load", broken)
    twice = "summary(fiscalYear: 2025) { paid }"
    document = f"{{ regions {{ {twice} {twice} }} }}"
    answer = await production.run(transport, document, key=production.keys["province"])
    assert answer["errors"][0]["message"] == "Internal server error."
    assert code(answer) == "INTERNAL_SERVER_ERROR"
    assert "pg_shadow" not in json.dumps(answer)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_authenticated_requests_are_audited_refusals_included(
    door: Door, transport: str
) -> None:
    before = len(await door.audit())
    key = door.keys["regency"]
    await door.run(transport, "query Mine { regions { code } }", {"v": 1}, key=key)
    await door.run(transport, "query Typo { regionz { code } }", key=key)
    await door.run(transport, "{ regions { code } }")  # anonymous: not recorded
    records = (await door.audit())[before:]
    assert [(r["operation"], r["outcome"], r["transport"]) for r in records] == [
        ("Mine", "ok", transport),
        (None, "GRAPHQL_VALIDATION_FAILED", transport),
    ]
    assert records[0]["variables"]["bytes"] == len(b'{"v":1}')
    assert all(r["actor"].startswith("key:") for r in records)


async def test_expired_tokens_are_refused_on_both(door: Door) -> None:
    token = _token(role="province", exp=int(time.time()) - 5)
    assert (await door.run("http", "{ __typename }", key=token))["status"] == 401
    assert await door.run("websocket", "{ __typename }", key=token) == {"closed": 4403}
